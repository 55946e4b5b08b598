package api

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/internal/admission"
	"github.com/onboardhq/onboard/host/store"
)

// Metrics is the Prometheus instrumentation of a Server: requests by
// operation and status, request, engine, store and hook latencies, the
// engine pool and quota rejections. Label values come from closed sets
// (operation ids, Store method names, quota names, hook names), never from
// request content, so cardinality stays bounded.
//
// New creates one with a private registry when Config.Metrics is nil; pass
// NewMetrics(yourRegisterer) to publish into an embedder's registry
// instead. One Metrics may be shared by several Servers.
type Metrics struct {
	reg      prometheus.Registerer
	gather   prometheus.Gatherer
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	engine   *prometheus.HistogramVec
	store    *prometheus.HistogramVec
	storeErr *prometheus.CounterVec
	quota    *prometheus.CounterVec
	hook     *prometheus.HistogramVec

	pool  *poolCollector
	lanes *laneCollector
}

// RuntimeStats is what the pool collector reads: *host.Runtime.
type RuntimeStats interface{ Stats() host.Stats }

var _ RuntimeStats = (*host.Runtime)(nil)

// Buckets from 100 µs (an engine call on a small body) to 10 s (a slow
// 1,000-device batch into a remote database).
var latencyBuckets = prometheus.ExponentialBucketsRange(0.0001, 10, 16)

// NewMetrics registers onboard's metrics with reg. A nil reg means a new
// private registry that also carries the Go runtime and process
// collectors; Handler serves it. With an embedder's registerer, Handler
// serves what reg gathers when reg is also a Gatherer (as
// *prometheus.Registry is), else prometheus.DefaultGatherer.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{pool: &poolCollector{}, lanes: &laneCollector{}}
	if reg == nil {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg = r
	}
	m.reg = reg
	if g, ok := reg.(prometheus.Gatherer); ok {
		m.gather = g
	} else {
		m.gather = prometheus.DefaultGatherer
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onboard_http_requests_total",
		Help: "HTTP requests served, by operation id and status code."}, []string{"operation", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "onboard_http_request_duration_seconds",
		Help: "Time to serve a request, by operation id.", Buckets: latencyBuckets}, []string{"operation"})
	m.engine = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "onboard_engine_call_duration_seconds",
		Help: "Time of one Wasm engine call (validate + resolve), pool wait included, by operation id.", Buckets: latencyBuckets}, []string{"operation"})
	m.store = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "onboard_store_call_duration_seconds",
		Help: "Time of one Store call, by method.", Buckets: latencyBuckets}, []string{"method"})
	m.storeErr = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onboard_store_errors_total",
		Help: "Store calls that failed, by method. Ordinary answers (not found, conflicts, quota refusals, an idempotency key held by another request) are not failures."},
		[]string{"method"})
	m.quota = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onboard_quota_rejections_total",
		Help: "Requests or batch items refused by a documented limit, by quota."}, []string{"quota"})
	m.hook = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "onboard_hook_duration_seconds",
		Help: "Time of one registration hook call, by hook name and outcome (allow, deny, patch, error, skip).", Buckets: latencyBuckets},
		[]string{"hook", "outcome"})
	reg.MustRegister(m.requests, m.latency, m.engine, m.store, m.storeErr, m.quota, m.hook, m.pool, m.lanes)
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.gather, promhttp.HandlerOpts{})
}

// ObserveHook records one registration hook call. It is the hook point for
// the hook runner's wiring (host/hooks); outcome is one of allow, deny,
// patch, error, skip.
func (m *Metrics) ObserveHook(hook, outcome string, d time.Duration) {
	m.hook.WithLabelValues(hook, outcome).Observe(d.Seconds())
}

// Quota names of limits the API enforces itself (the store's are
// store.Quota*).
const quotaEnOSBatchSize = "enos_devices_per_batch"

// QuotaRejected counts n rejections by quota.
func (m *Metrics) QuotaRejected(quota string, n int) { m.quota.WithLabelValues(quota).Add(float64(n)) }

func (m *Metrics) observeRequest(op string, status int, d time.Duration) {
	m.requests.WithLabelValues(op, statusText(status)).Inc()
	m.latency.WithLabelValues(op).Observe(d.Seconds())
}

// WatchRuntime adds rt's pool gauges and counters to the metrics (read
// from Stats at each scrape; several runtimes are summed). Watching the
// same runtime twice is a no-op.
func (m *Metrics) WatchRuntime(rt RuntimeStats) { m.pool.add(rt) }

// storeObserver measures the store calls of requests, whose contexts carry
// it (store.WithObserver), and counts their quota rejections.
func (m *Metrics) storeObserver() *store.Observer {
	return &store.Observer{
		Call: func(method string, d time.Duration, err error) {
			m.store.WithLabelValues(method).Observe(d.Seconds())
			if store.Failed(err) {
				m.storeErr.WithLabelValues(method).Inc()
			}
		},
		Quota: m.QuotaRejected,
	}
}

// timedEngine measures each engine call.
type timedEngine struct {
	next Validator
	m    *Metrics
}

func (t timedEngine) Validate(ctx context.Context, op string, params, body []byte) (*abi.Result, error) {
	start := time.Now()
	res, err := t.next.Validate(ctx, op, params, body)
	t.m.engine.WithLabelValues(op).Observe(time.Since(start).Seconds())
	return res, err
}

// poolCollector reads the runtimes' Stats at scrape time, so the hot path
// pays nothing for these metrics.
type poolCollector struct {
	mu       sync.Mutex
	runtimes []RuntimeStats
}

func (p *poolCollector) add(rt RuntimeStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, have := range p.runtimes {
		if have == rt {
			return
		}
	}
	p.runtimes = append(p.runtimes, rt)
}

var (
	descPoolMax = prometheus.NewDesc("onboard_engine_pool_max_instances",
		"Size of the engine instance pool (host.WithMaxInstances).", nil, nil)
	descPoolLive = prometheus.NewDesc("onboard_engine_pool_instances",
		"Engine instances in the pool, by state: live (instantiated, busy or idle) or idle.", []string{"state"}, nil)
	descPoolWaits = prometheus.NewDesc("onboard_engine_pool_waits_total",
		"Engine calls that found every instance busy and the pool full, and waited.", nil, nil)
	descPoolWait = prometheus.NewDesc("onboard_engine_pool_wait_seconds_total",
		"Total time engine calls waited for an instance.", nil, nil)
	descCalls = prometheus.NewDesc("onboard_engine_calls_total", "Engine calls.", nil, nil)
	descTraps = prometheus.NewDesc("onboard_engine_traps_total",
		"Engine calls that trapped (the instance was discarded).", nil, nil)
	descTimeouts = prometheus.NewDesc("onboard_engine_timeouts_total",
		"Engine calls stopped by the call timeout (the instance was discarded).", nil, nil)
	descInstantiated = prometheus.NewDesc("onboard_engine_instantiated_total",
		"Engine instances created (start-up, and replacements of discarded ones).", nil, nil)
)

func (p *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPoolMax, descPoolLive, descPoolWaits, descPoolWait, descCalls, descTraps, descTimeouts, descInstantiated} {
		ch <- d
	}
}

func (p *poolCollector) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	var s host.Stats
	for _, rt := range p.runtimes {
		x := rt.Stats()
		s.Max += x.Max
		s.Live += x.Live
		s.Idle += x.Idle
		s.Waits += x.Waits
		s.WaitTime += x.WaitTime
		s.Calls += x.Calls
		s.Traps += x.Traps
		s.Timeouts += x.Timeouts
		s.Instantiated += x.Instantiated
	}
	p.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descPoolMax, prometheus.GaugeValue, float64(s.Max))
	ch <- prometheus.MustNewConstMetric(descPoolLive, prometheus.GaugeValue, float64(s.Live), "live")
	ch <- prometheus.MustNewConstMetric(descPoolLive, prometheus.GaugeValue, float64(s.Idle), "idle")
	ch <- prometheus.MustNewConstMetric(descPoolWaits, prometheus.CounterValue, float64(s.Waits))
	ch <- prometheus.MustNewConstMetric(descPoolWait, prometheus.CounterValue, s.WaitTime.Seconds())
	ch <- prometheus.MustNewConstMetric(descCalls, prometheus.CounterValue, float64(s.Calls))
	ch <- prometheus.MustNewConstMetric(descTraps, prometheus.CounterValue, float64(s.Traps))
	ch <- prometheus.MustNewConstMetric(descTimeouts, prometheus.CounterValue, float64(s.Timeouts))
	ch <- prometheus.MustNewConstMetric(descInstantiated, prometheus.CounterValue, float64(s.Instantiated))
}

// laneCollector reads the admission lanes at scrape time.
type laneCollector struct {
	mu    sync.Mutex
	lanes []*admission.Lane
}

// watchLanes adds a server's admission lanes to the metrics.
func (m *Metrics) watchLanes(ls []*admission.Lane) {
	m.lanes.mu.Lock()
	defer m.lanes.mu.Unlock()
	m.lanes.lanes = append(m.lanes.lanes, ls...)
}

var (
	descLaneSlots = prometheus.NewDesc("onboard_admission_slots",
		"Requests an admission lane runs at once, by lane (read, write, bulk).", []string{"lane"}, nil)
	descLaneQueue = prometheus.NewDesc("onboard_admission_queue",
		"Requests an admission lane lets wait for a slot, by lane.", []string{"lane"}, nil)
	descLaneAdmitted = prometheus.NewDesc("onboard_admission_admitted",
		"Requests admitted into a lane now, running or waiting, by lane.", []string{"lane"}, nil)
	descLaneRunning = prometheus.NewDesc("onboard_admission_running",
		"Requests holding a lane's slot now, by lane.", []string{"lane"}, nil)
	descLaneRefused = prometheus.NewDesc("onboard_admission_refused_total",
		"Requests refused with 429 because their lane was full, by lane.", []string{"lane"}, nil)
)

func (l *laneCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLaneSlots, descLaneQueue, descLaneAdmitted, descLaneRunning, descLaneRefused} {
		ch <- d
	}
}

// Collect sums lanes of the same name (several servers on one Metrics).
func (l *laneCollector) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	sums := map[string]*admission.Stats{}
	var names []string
	for _, lane := range l.lanes {
		s := lane.Stats()
		t := sums[s.Name]
		if t == nil {
			t = &admission.Stats{Name: s.Name}
			sums[s.Name] = t
			names = append(names, s.Name)
		}
		t.Slots += s.Slots
		t.Queue += s.Queue
		t.Admitted += s.Admitted
		t.Running += s.Running
		t.Refused += s.Refused
	}
	l.mu.Unlock()
	for _, n := range names {
		s := sums[n]
		ch <- prometheus.MustNewConstMetric(descLaneSlots, prometheus.GaugeValue, float64(s.Slots), n)
		ch <- prometheus.MustNewConstMetric(descLaneQueue, prometheus.GaugeValue, float64(s.Queue), n)
		ch <- prometheus.MustNewConstMetric(descLaneAdmitted, prometheus.GaugeValue, float64(s.Admitted), n)
		ch <- prometheus.MustNewConstMetric(descLaneRunning, prometheus.GaugeValue, float64(s.Running), n)
		ch <- prometheus.MustNewConstMetric(descLaneRefused, prometheus.CounterValue, float64(s.Refused), n)
	}
}

func statusText(code int) string { return strconv.Itoa(code) }
