package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/gateway"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
)

const agentBody = `{"agent":{"agent_id":"489654f2-363b-4ebf-966a-bdf079d97114",
 "host_name":"ecs-00002","host_ip":"10.10.0.2","host_os":"linux"}}`

// post sends body with an X-Auth-Token and prints the status and the
// error code, if any.
func post(url, token, body string) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if i := strings.Index(string(b), `"error_code":"`); i >= 0 {
		code, _, _ := strings.Cut(string(b)[i+len(`"error_code":"`):], `"`)
		fmt.Println(resp.StatusCode, code)
		return
	}
	fmt.Println(resp.StatusCode)
}

// The handler serves the APIs at their absolute paths, as the official
// SDKs send them: mount it at the root of a server (or of a virtual host,
// see the mux example), not under http.StripPrefix.
func Example() {
	ctx := context.Background()
	// The handler opens the store itself and closes it in Close. A SQLite
	// path or a postgres:// URL needs the 32-byte key that seals secrets.
	h, err := gateway.New(ctx,
		gateway.WithDatabaseURL("memory:", nil),
		gateway.WithBodyLimit(256<<10))
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close(ctx)

	srv := httptest.NewServer(h) // or &http.Server{Handler: h}
	defer srv.Close()
	post(srv.URL+"/v3/p1/agents", "", agentBody) // no credentials
	// Output:
	// 401 APIGW.0301
}

// With a store the caller owns (here to issue a token), Close leaves the
// store open; the caller closes it.
func ExampleWithStore() {
	ctx := context.Background()
	st, err := stores.Open(ctx, store.Config{URL: "memory:"})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close(ctx)
	now := time.Now()
	if err := st.CreateToken(ctx, "tok-p1", &store.Token{ProjectID: "p1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		log.Fatal(err)
	}

	h, err := gateway.New(ctx, gateway.WithStore(st))
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close(ctx)
	srv := httptest.NewServer(h)
	defer srv.Close()

	post(srv.URL+"/v3/p1/agents", "tok-p1", agentBody)
	post(srv.URL+"/v3/p1/agents", "tok-p1", `{"agent":{"agent_id":1}}`)
	// Output:
	// 200
	// 400 BackupService.0001
}

// Next to other handlers in one http.ServeMux: a host pattern gives onboard
// a virtual host of its own with its paths unchanged, and Owns lets one
// host share its URL space: onboard's operation paths go to onboard, the
// rest to the application.
func ExampleHandler_Owns() {
	ctx := context.Background()
	h, err := gateway.New(ctx, gateway.WithDatabaseURL("memory:", nil))
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close(ctx)
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "app")
	})

	mux := http.NewServeMux()
	mux.Handle("onboard.internal/", h) // a virtual host: every path is onboard's
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.Owns(r) {
			h.ServeHTTP(w, r)
			return
		}
		app.ServeHTTP(w, r)
	}))

	for _, path := range []string{"/v3/p1/agents", "/v3/p1/agents/a1/add-path", "/index.html"} {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(agentBody))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(path, w.Code)
	}
	// Output:
	// /v3/p1/agents 401
	// /v3/p1/agents/a1/add-path 401
	// /index.html 200
}

// A runtime can be shared: created once, passed to several handlers (or to
// a handler rebuilt on a config reload) and used directly for validation.
// Handlers never close a runtime they were given.
func ExampleWithEngine() {
	ctx := context.Background()
	rt, err := host.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close(ctx)
	for range 2 {
		h, err := gateway.New(ctx, gateway.WithEngine(rt), gateway.WithDatabaseURL("memory:", nil))
		if err != nil {
			log.Fatal(err)
		}
		_ = h.Close(ctx) // closes its store only
	}
	res, err := rt.Validate(ctx, "cbr.agent.register", nil, []byte(agentBody))
	fmt.Println(res.Valid, err)
	// Output:
	// true <nil>
}

// Validation and template resolution without the HTTP service: the host
// runtime alone, with the same engine the handler uses.
func Example_validateOnly() {
	ctx := context.Background()
	rt, err := host.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close(ctx)

	res, err := rt.Validate(ctx, "cbr.agent.register", []byte(`{"project_id":"p1"}`),
		[]byte(`{"agent":{"agent_id":"a1","host_name":"h","host_ip":"10.0.0.1","host_os":"plan9","agent_type":"cloudy"}}`))
	if err != nil {
		log.Fatal(err) // the engine failed (trap, timeout): not a verdict
	}
	fmt.Println("valid:", res.Valid)
	for _, v := range res.AllViolations() {
		fmt.Println(v.Pointer, v.Rule)
	}

	res, err = rt.Validate(ctx, "iotda.provisioning-template.resolve", nil, []byte(`{
	 "template_body":{"parameters":{"iotda::certificate::common_name":{"type":"String"}},
	  "resources":{"device":{"node_id":{"ref":"iotda::certificate::common_name"},"product_id":"p1"}}},
	 "subject":{"CN":"dev-001"}}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("resolved:", res.Valid, res.Device.NodeID, res.Device.ProductID)
	// Output:
	// valid: false
	// /agent/agent_type enum
	// resolved: true dev-001 p1
}
