package conformance

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's table of onboard's code book is OnboardCodes.
func TestREADMEListsOnboardCodes(t *testing.T) {
	f, err := os.Open("../../README.md")
	require.NoError(t, err)
	defer f.Close()
	got := CodeBook{}
	var header []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(strings.Trim(sc.Text(), "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case len(cells) > 1 && cells[0] == "service" && cells[1] == "invalid":
			header = cells
		case header != nil && len(cells) == len(header) && !strings.HasPrefix(cells[0], "---"):
			got[cells[0]] = map[Failure]string{}
			for i, code := range cells[1:] {
				if code != "" {
					got[cells[0]][Failure(header[i+1])] = code
				}
			}
		case header != nil && len(got) > 0:
			header = nil
		}
	}
	require.NoError(t, sc.Err())
	assert.Equal(t, OnboardCodes(), got)
}

func TestReadCodeBook(t *testing.T) {
	book, err := ReadCodeBook([]byte(`{"iotda":{"invalid":"IOTDA.000006"},"enos":{"not-found":"99404"}}`))
	require.NoError(t, err)
	assert.Equal(t, CodeBook{"iotda": {Invalid: "IOTDA.000006"}, "enos": {NotFound: "99404"}}, book)
	for _, bad := range []string{
		`{"nosuch":{"invalid":"X.1"}}`,
		`{"iotda":{"nosuch":"IOTDA.1"}}`,
		`{"iotda":{"invalid":""}}`,
		`{"enos":{"invalid":"E1"}}`,
		`[]`,
	} {
		_, err := ReadCodeBook([]byte(bad))
		assert.Error(t, err, bad)
	}
}
