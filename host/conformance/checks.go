package conformance

import "fmt"

// all runs every check the target's credentials allow.
func (r *runner) all() {
	covered := map[string]bool{}
	for _, res := range resources {
		ops := res.ops()
		for _, op := range ops {
			covered[op] = true
		}
		if r.t.Token == "" && r.t.AK == "" {
			r.skipAll(ops, "no Huawei credentials (Target.Token or AK/SK, with Project)")
			continue
		}
		r.huaweiResource(res)
	}
	enos := []string{enosCreate, enosGet, enosSearch}
	for _, op := range enos {
		covered[op] = true
	}
	if r.t.EnOSToken == "" {
		r.skipAll(enos, "no EnOS credentials (Target.EnOSToken and EnOSOrg)")
	} else {
		r.enos()
	}
	// The catalogue grows; an operation the kit has no checks for fails,
	// rather than being silently left out.
	for _, op := range r.order {
		if !covered[op] {
			r.check(op+"/coverage", func() error { return fmt.Errorf("the conformance kit has no checks for %s: a kit defect", op) })
		}
	}
}
