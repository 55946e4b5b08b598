package api_test

import (
	"context"
	"crypto/x509"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // EXPLAIN QUERY PLAN on the store's own file

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/provision"
	"github.com/onboardhq/onboard/host/provision/provisiontest"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/host/store/storetest"
)

// statements records what a store runs (store.Config.Trace).
type statements struct {
	mu   sync.Mutex
	list []statement
}

type statement struct {
	sql  string
	args []any
}

func (s *statements) add(q string, args []any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, statement{q, append([]any(nil), args...)})
}

// take returns the statements recorded since the last take.
func (s *statements) take() []statement {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.list
	s.list = nil
	return out
}

// planner explains a statement in the store's database.
type planner interface {
	// problems returns what in the plan of st reads a table or index whole
	// or sorts rows an index could give in order; nil when none.
	problems(t *testing.T, st statement) []string
}

type sqlitePlanner struct{ db *sql.DB }

// sqliteOwnRows are scans of a statement's own values, not of a table.
var sqliteOwnRows = regexp.MustCompile(`^SCAN (\d+-ROW VALUES CLAUSE|CONSTANT ROW)$`)

func (p sqlitePlanner) problems(t *testing.T, st statement) []string {
	rows, err := p.db.Query("EXPLAIN QUERY PLAN "+st.sql, st.args...)
	require.NoError(t, err, st.sql)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
		// SEARCH is a seek; SCAN reads a table or an index whole; a temp
		// B-tree sorts what no index gave in order.
		if (strings.HasPrefix(detail, "SCAN ") && !sqliteOwnRows.MatchString(detail)) || strings.Contains(detail, "TEMP B-TREE") {
			out = append(out, detail)
		}
	}
	require.NoError(t, rows.Err())
	return out
}

type pgPlanner struct{ conn *pgx.Conn }

func (p pgPlanner) problems(t *testing.T, st statement) []string {
	ctx := context.Background()
	rows, err := p.conn.Query(ctx, "EXPLAIN "+st.sql, st.args...)
	require.NoError(t, err, st.sql)
	var plan []string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan = append(plan, strings.TrimSpace(strings.TrimLeft(line, " ->")))
	}
	rows.Close()
	require.NoError(t, rows.Err())
	var out []string
	for i, line := range plan {
		switch {
		case strings.HasPrefix(line, "Seq Scan on"):
			out = append(out, line)
		case strings.HasPrefix(line, "Sort ") || strings.HasPrefix(line, "Incremental Sort "):
			// Sorting a batch's own rows (unnest ... ORDER BY ord) reads
			// no table.
			if i+2 < len(plan) && strings.HasPrefix(plan[i+2], "Function Scan on unnest") {
				continue
			}
			out = append(out, strings.Join(plan, " | "))
		}
	}
	return out
}

// countsScope matches a count of a resource table; scopeColumns are the
// columns that only choose a scope. A count whose filter names nothing but
// those counts a whole scope: its total must come from the counters of
// migration 10. Templates are the exception: at most ten per instance (the
// quota), their count reads at most ten index entries.
var (
	countsScope  = regexp.MustCompile(`(?i)count\(\*\)\s+FROM\s+(products|device_cas|devices|agent_invocations|agents)\b(.*)`)
	filterColumn = regexp.MustCompile(`(\w+)\s*(=|IN\b)`)
	scopeColumns = map[string]map[string]bool{
		"products": {"project_id": true, "instance_id": true}, "device_cas": {"project_id": true, "instance_id": true},
		"devices": {"org_id": true, "product_key": true}, "agent_invocations": {"project_id": true}, "agents": {"project_id": true},
	}
)

// listsWholeScope reports whether st selects every row of a scope: a
// filter of nothing but scope columns and no page (the store's unbounded
// LIMIT), a read that grows with the scope. Templates are the exception,
// as for counts.
func listsWholeScope(st statement) bool {
	m := selectsScope.FindStringSubmatch(st.sql)
	if m == nil {
		return false
	}
	where, _, _ := strings.Cut(m[2], " ORDER BY ")
	for _, c := range filterColumn.FindAllStringSubmatch(where, -1) {
		if !scopeColumns[strings.ToLower(m[1])][c[1]] {
			return false
		}
	}
	lim := limitArg.FindStringSubmatch(st.sql)
	if lim == nil {
		return true
	}
	n, _ := strconv.Atoi(lim[1])
	return n >= 1 && n <= len(st.args) && fmt.Sprint(st.args[n-1]) == fmt.Sprint(int64(1)<<53)
}

var (
	selectsScope = regexp.MustCompile(`(?is)^\s*SELECT\s.*?\sFROM\s+(products|device_cas|devices|agent_invocations|agents)\b(.*)`)
	limitArg     = regexp.MustCompile(`LIMIT \$(\d+)`)
)

// countsWholeScope reports whether q counts every row of a scope.
func countsWholeScope(q string) bool {
	m := countsScope.FindStringSubmatch(q)
	if m == nil {
		return false
	}
	for _, c := range filterColumn.FindAllStringSubmatch(m[2], -1) {
		if !scopeColumns[strings.ToLower(m[1])][c[1]] {
			return false
		}
	}
	return true
}

// planEnv is a server whose store reports every statement, and a planner
// on the same database.
type planEnv struct {
	*enosEnv
	stmts *statements
	plan  planner
}

func newPlanEnv(t *testing.T, kind string) *planEnv {
	t.Helper()
	ctx := context.Background()
	stmts := &statements{}
	p := &planEnv{stmts: stmts}
	url := filepath.Join(t.TempDir(), "onboard.db")
	if kind == "postgres" {
		url = storetest.PostgresURL(t)
		conn, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close(context.Background()) })
		// What the planner picks when it avoids scans and sorts if it can:
		// a Seq Scan or Sort left in the plan has no index to avoid it,
		// however small the test's tables are.
		_, err = conn.Exec(ctx, "SET enable_seqscan = off; SET enable_sort = off")
		require.NoError(t, err)
		p.plan = pgPlanner{conn}
	}
	st, err := stores.Open(ctx, store.Config{URL: url, EncryptionKey: testKey, Trace: stmts.add})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close(context.Background()) })
	if kind == "sqlite" {
		db, err := sql.Open("sqlite", "file:"+url+"?mode=ro")
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		p.plan = sqlitePlanner{db}
	}
	srv, err := api.New(api.Config{Engine: enginetest.Runtime(t), Store: st})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &env{t: t, url: ts.URL, store: st, tokenA: "tok-a-" + kind, tokenB: "tok-b-" + kind}
	exp := time.Now().Add(time.Hour)
	require.NoError(t, st.CreateToken(ctx, e.tokenA, &store.Token{ProjectID: projA, CreatedAt: time.Now(), ExpiresAt: exp}))
	p.enosEnv = &enosEnv{env: e, bare: enosAccount(t, st, enosOrgA, "sa-bare", "")}
	return p
}

// previewSubject is a device certificate subject templateNamed resolves.
var previewSubject = map[string]string{"C": "CN", "O": "acme", "OU": "meters", "dnQualifier": "dq", "ST": "GD", "CN": "dev-plan", "serialNumber": "SN1"}

// route sends one request and checks the plan of every statement it made.
func (p *planEnv) route(t *testing.T, name string, want int, send func() response) {
	t.Helper()
	p.stmts.take()
	r := send()
	require.Equal(t, want, r.status, "%s: %s", name, r.raw)
	p.checkPlans(t, name)
}

// sweep runs one store clean-up and checks the plan of its statements.
func (p *planEnv) sweep(t *testing.T, name string, run func(context.Context, store.Store) (int, error)) {
	t.Helper()
	p.stmts.take()
	_, err := run(context.Background(), p.store)
	require.NoError(t, err, name)
	p.checkPlans(t, name)
}

// provision registers dev's chain as the provisioning listener would and
// checks the plan of every statement it made; the outcome does not matter.
func (p *planEnv) provision(t *testing.T, name string, prov *provision.Provisioner, dev *provisiontest.Device) {
	t.Helper()
	p.stmts.take()
	_, _ = prov.Register(context.Background(), projA, "", append([]*x509.Certificate{dev.Cert}, dev.Intermediates...))
	p.checkPlans(t, name)
}

// checkPlans checks the statements recorded since the last take.
func (p *planEnv) checkPlans(t *testing.T, name string) {
	t.Helper()
	stmts := p.stmts.take()
	require.NotEmpty(t, stmts, "%s: no statement recorded", name)
	for _, st := range stmts {
		verb := strings.ToUpper(strings.Fields(st.sql)[0])
		if verb != "SELECT" && verb != "INSERT" && verb != "UPDATE" && verb != "DELETE" && verb != "WITH" {
			continue // SAVEPOINT and the like
		}
		require.False(t, countsWholeScope(st.sql), "%s counts a whole scope:\n%s", name, st.sql)
		require.False(t, listsWholeScope(st), "%s reads every row of a scope, without a page:\n%s", name, st.sql)
		require.Empty(t, p.plan.problems(t, st), "%s: statement reads more than an index range:\n%s", name, st.sql)
	}
}

// TestQueryPlans: each statement a create or list route of the five
// services sends to the store seeks an index (no full scan of a table or
// an index, no sort of a scope) and no list counts its scope's rows, on
// SQLite and PostgreSQL. The statements are captured as the store runs
// them and explained with the same arguments.
func TestQueryPlans(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			p := newPlanEnv(t, kind)
			// Some rows of every resource, so plans are not of empty tables.
			for i := range 3 {
				p.do("POST", productsPath, p.tokenA, fmt.Sprintf(`{"product":{"name":"seed-%d"}}`, i))
				p.do("POST", agentsPath, p.tokenA, agentBody(fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i), "10.0.0.1"))
				p.do("POST", templatesPath, p.tokenA, templateNamed(t, fmt.Sprintf("seed-%d", i)), "Instance-Id", "inst-1")
				p.batchCreate(enosOrgA, p.bare, enosBatch(enosDevice("pk_seed", ""), enosDevice("pk_seed2", "")))
			}
			installed := cesInstall(t, p.env, "i-seed-1", "i-seed-2")
			cesSetStatus(t, p.env, installed[0], "SUCCEEDED")

			// IEF
			p.route(t, "ief product create", http.StatusCreated, func() response {
				return p.do("POST", productsPath, p.tokenA, `{"product":{"name":"plan-1"}}`)
			})
			p.route(t, "ief product list", http.StatusOK, func() response { return p.do("GET", productsPath, p.tokenA, nil) })
			p.route(t, "ief product list by name", http.StatusOK, func() response {
				return p.do("GET", productsPath+"?sort=name:desc", p.tokenA, nil)
			})
			// IoTDA
			p.route(t, "iotda template create", http.StatusCreated, func() response {
				return p.do("POST", templatesPath, p.tokenA, templateNamed(t, "plan-1"), "Instance-Id", "inst-1")
			})
			p.route(t, "iotda template list", http.StatusOK, func() response {
				return p.do("GET", templatesPath+"?limit=2", p.tokenA, nil, "Instance-Id", "inst-1")
			})
			ca := provisiontest.NewCA(t, "plan CA")
			p.route(t, "iotda CA upload", http.StatusOK, func() response {
				return p.do("POST", certificatesPath, p.tokenA, map[string]any{"content": ca.PEM})
			})
			p.route(t, "iotda CA upload again", http.StatusConflict, func() response {
				return p.do("POST", certificatesPath, p.tokenA, map[string]any{"content": ca.PEM})
			})
			p.route(t, "iotda CA list", http.StatusOK, func() response { return p.do("GET", certificatesPath, p.tokenA, nil) })
			tpl := p.do("POST", templatesPath, p.tokenA, templateNamed(t, "plan-bound"))
			require.Equal(t, http.StatusCreated, tpl.status, string(tpl.raw))
			tplID := tpl.body["template_id"].(string)
			bound := provisiontest.NewCA(t, "plan bound CA")
			p.do("POST", certificatesPath, p.tokenA, map[string]any{"content": bound.PEM, "template_id": tplID, "provision_enable": true})
			p.route(t, "iotda template preview", http.StatusOK, func() response {
				return p.do("POST", templatesPath+"/"+tplID+"/onboard-preview", p.tokenA, map[string]any{"subject": previewSubject})
			})
			// Zero-touch provisioning (its own listener): the CA look-up of
			// a device of an unverified CA, refused after it.
			prov, err := provision.New(provision.Config{Engine: enginetest.Runtime(t), Store: p.store})
			require.NoError(t, err)
			dev := bound.Issue(t, previewSubject, provisiontest.Options{})
			p.provision(t, "iotda provisioning CA look-up", prov, dev)
			// EnOS
			p.route(t, "enos batch create", http.StatusOK, func() response {
				return p.batchCreate(enosOrgA, p.bare, enosBatch(enosDevice("pk_plan", ""), enosDevice("pk_plan", "k-plan")))
			})
			for _, order := range []string{"ASC", "DESC"} {
				p.route(t, "enos search "+order, http.StatusOK, func() response {
					return p.enos("POST", "action=search&orgId="+enosOrgA, p.bare,
						map[string]any{"pagination": map[string]any{"pageNo": 1, "pageSize": 2,
							"sorters": []any{map[string]any{"field": "createTime", "order": order}}}})
				})
			}
			p.route(t, "enos search by product", http.StatusOK, func() response {
				return p.enos("POST", "action=search&orgId="+enosOrgA, p.bare, map[string]any{"expression": "productKey = 'pk_plan'"})
			})
			// CES
			for _, typ := range []string{"INSTALL", "UPDATE"} {
				p.route(t, "ces batch create "+typ, http.StatusCreated, func() response {
					return p.do("POST", cesBatchPath, p.tokenA, map[string]any{"invocation_type": typ,
						"instance_ids": []string{"i-seed-1", "i-seed-2", "i-new"}, "version": "3.0.0"})
				})
			}
			p.route(t, "ces list", http.StatusOK, func() response { return p.do("GET", cesListPath+"?limit=2", p.tokenA, nil) })
			p.route(t, "ces list by instance", http.StatusOK, func() response {
				return p.do("GET", cesListPath+"?instance_id=i-seed-1", p.tokenA, nil)
			})
			// CBR
			p.route(t, "cbr register", http.StatusOK, func() response {
				return p.do("POST", agentsPath, p.tokenA, agentBody("00000000-0000-4000-8000-0000000000aa", "10.0.0.2"))
			})
			p.route(t, "cbr list", http.StatusOK, func() response { return p.do("GET", agentsPath+"?limit=2", p.tokenA, nil) })
			// Sweeps (api.RunSweeps), after requests with Idempotency-Key.
			p.do("POST", productsPath, p.tokenA, `{"product":{"name":"idem-1"}}`, "Idempotency-Key", "plan-idem-1")
			p.sweep(t, "idempotency purge", func(ctx context.Context, st store.Store) (int, error) {
				return st.PurgeIdempotency(ctx, time.Now().Add(-time.Hour))
			})
			p.sweep(t, "invocation timeout sweep", func(ctx context.Context, st store.Store) (int, error) {
				n, err := st.TimeoutInvocations(ctx, time.Now().Add(-time.Hour))
				return int(n), err
			})
		})
	}
}
