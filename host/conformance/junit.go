package conformance

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the report as JUnit XML: one testsuite per operation
// (classname), one testcase per check, named as in the text report.
func (r Report) WriteJUnit(w io.Writer) error {
	out := junitSuites{Name: "onboard conformance " + r.Target, Time: seconds(r.Duration)}
	index := map[string]int{}
	for _, res := range r.Results {
		op := res.Op()
		i, ok := index[op]
		if !ok {
			i = len(out.Suites)
			index[op] = i
			out.Suites = append(out.Suites, junitSuite{Name: op})
		}
		s := &out.Suites[i]
		c := junitCase{Name: res.Name, Classname: op, Time: seconds(res.Duration)}
		first, _, _ := strings.Cut(res.Detail, "\n")
		switch res.Status {
		case Fail:
			c.Failure = &junitMessage{Message: first, Text: res.Detail}
			s.Failures++
			out.Failures++
		case Skip:
			c.Skipped = &junitMessage{Message: first}
			s.Skipped++
			out.Skipped++
		}
		s.Tests++
		out.Tests++
		s.Cases = append(s.Cases, c)
	}
	for i := range out.Suites {
		var d time.Duration
		for _, res := range r.Results {
			if res.Op() == out.Suites[i].Name {
				d += res.Duration
			}
		}
		out.Suites[i].Time = seconds(d)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
