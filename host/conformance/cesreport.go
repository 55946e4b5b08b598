package conformance

import (
	"encoding/json"
	"fmt"
)

// The CES task lifecycle through onboard's report extension: a task moves
// on only when reported, so UPDATE, RETRY and ROLLBACK need reports first.
const (
	cesCreate = "ces.agent-invocation.batch-create"
	cesReport = "ces.agent-invocation.onboard-report"
)

func cesReportChecks(r *runner, res *resource, shared func() (*fixture, error)) {
	report := func(id, status string) (*reply, error) {
		return r.do(request{op: cesReport, params: map[string]string{res.idParam: id},
			body: fmt.Appendf(nil, `{"invocation_status":%q}`, status)})
	}
	reported := func(id, status string) error {
		p, err := report(id, status)
		if err != nil {
			return err
		}
		if err := r.wantSuccess(cesReport, p); err != nil {
			return fmt.Errorf("report %s on %s: %w", status, id, err)
		}
		if got := str(p.obj, "invocation", "invocation_status"); got != status {
			return fmt.Errorf("report %s on %s: the task is %q: %s", status, id, got, p)
		}
		return nil
	}
	// task creates one task of typ for items and returns its id.
	task := func(typ, field string, items ...string) (string, error) {
		body := fmt.Appendf(nil, `{"invocation_type":%q,%q:%s,"version":"conform-1"}`, typ, field, jsonList(items))
		p, err := r.do(request{op: cesCreate, body: body})
		if err != nil {
			return "", err
		}
		if err := r.wantSuccess(cesCreate, p); err != nil {
			return "", fmt.Errorf("%s: %w", typ, err)
		}
		ids := res.created(p.obj)
		if len(ids) != len(items) {
			return "", fmt.Errorf("%s of %v: want %d successful items: %s", typ, items, len(items), p)
		}
		return ids[0], nil
	}

	// Each ok case on a task of its own (a report can make a task final).
	for _, c := range cases(cesReport) {
		r.check(cesReport+"/"+c.name, func() error {
			fx, err := shared()
			if c.valid {
				fx, err = r.newFixture(res, nil)
			}
			if err != nil {
				return err
			}
			p, err := r.do(request{op: cesReport, params: map[string]string{res.idParam: fx.id}, body: c.body})
			if err != nil {
				return err
			}
			if !c.valid {
				return r.wantInvalid(cesReport, p)
			}
			if err := r.wantSuccess(cesReport, p); err != nil {
				return err
			}
			sent, err := decode(c.body)
			if err != nil {
				return fmt.Errorf("kit: %w", err)
			}
			return r.echo(cesReport, sent, p.obj, "invocation")
		})
	}
	r.check(cesReport+"/not-found", func() error {
		p, err := report(r.missing(), "RUNNING")
		if err != nil {
			return err
		}
		return r.wantError(cesReport, p, NotFound)
	})
	r.check(cesReport+"/final-status", func() error {
		fx, err := r.newFixture(res, nil)
		if err != nil {
			return err
		}
		if err := reported(fx.id, "FAILED"); err != nil {
			return err
		}
		p, err := report(fx.id, "SUCCEEDED")
		if err != nil {
			return err
		}
		return r.wantError(cesReport, p, Conflict)
	})
	// INSTALL → SUCCEEDED → UPDATE → FAILED → RETRY → SUCCEEDED → ROLLBACK.
	r.check(cesReport+"/lifecycle", func() error {
		instance := "conform-" + r.run + "-life"
		install, err := task("INSTALL", "instance_ids", instance)
		if err != nil {
			return err
		}
		if err := reported(install, "SUCCEEDED"); err != nil {
			return err
		}
		update, err := task("UPDATE", "instance_ids", instance)
		if err != nil {
			return fmt.Errorf("after a SUCCEEDED install: %w", err)
		}
		if err := reported(update, "FAILED"); err != nil {
			return err
		}
		retry, err := task("RETRY", "invocation_ids", update)
		if err != nil {
			return fmt.Errorf("of a FAILED update: %w", err)
		}
		if err := reported(retry, "SUCCEEDED"); err != nil {
			return err
		}
		if _, err := task("ROLLBACK", "invocation_ids", update); err != nil {
			return fmt.Errorf("of the update: %w", err)
		}
		return nil
	})
}

func jsonList(items []string) string {
	b, _ := json.Marshal(items) // strings cannot fail to encode
	return string(b)
}
