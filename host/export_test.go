package host

import "context"

// HoldInstance takes an instance from r's pool until release, as a call
// in progress would.
func HoldInstance(r *Runtime) (release func(), err error) {
	inst, err := r.pool.Get(context.Background())
	if err != nil {
		return nil, err
	}
	return func() { r.pool.Put(inst) }, nil
}
