// Package metrics defines Bridle's Prometheus metrics. Label values are
// bounded: phases, decisions and reason codes are fixed vocabularies, and
// connectors are the configured names — never paths, hosts an agent chose,
// or free text.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every collector. Methods are safe for concurrent use.
type Metrics struct {
	reg       *prometheus.Registry
	decisions *prometheus.CounterVec
	check     *prometheus.HistogramVec
	policy    prometheus.Histogram
	store     *prometheus.HistogramVec
	reloads   *prometheus.CounterVec
}

// latencyBuckets span a fast in-memory decision (µs) to a store timeout.
var latencyBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}

// New registers Bridle's metrics and the Go runtime's.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bridle_decisions_total", Help: "Checks answered, by phase, decision, reason code and connector.",
	}, []string{"phase", "decision", "reason", "connector"})
	m.check = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "bridle_check_duration_seconds", Help: "Time to decide one Check, inside the decision service.", Buckets: latencyBuckets,
	}, []string{"phase"})
	m.policy = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "bridle_policy_eval_duration_seconds", Help: "Time to evaluate the policy for one action.", Buckets: latencyBuckets,
	})
	m.store = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "bridle_store_duration_seconds", Help: "One state store call on the decision path, by operation (rate_limit, kill_switch, approval, nonce).", Buckets: latencyBuckets,
	}, []string{"op"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bridle_config_reloads_total", Help: "Config reloads, by result (ok, error).",
	}, []string{"result"})
	m.reg.MustRegister(m.decisions, m.check, m.policy, m.store, m.reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Decision counts one answered Check and its duration.
func (m *Metrics) Decision(phase, decision, reason, connector string, elapsed time.Duration) {
	m.decisions.WithLabelValues(phase, decision, reason, connector).Inc()
	m.check.WithLabelValues(phase).Observe(elapsed.Seconds())
}

// PolicyEval records one policy evaluation.
func (m *Metrics) PolicyEval(elapsed time.Duration) { m.policy.Observe(elapsed.Seconds()) }

// StoreCall records one state store call; op is a bounded set of names.
func (m *Metrics) StoreCall(op string, elapsed time.Duration) {
	m.store.WithLabelValues(op).Observe(elapsed.Seconds())
}

// Reload counts a config reload.
func (m *Metrics) Reload(ok bool) {
	result := "ok"
	if !ok {
		result = "error"
	}
	m.reloads.WithLabelValues(result).Inc()
}

// GaugeFunc registers a gauge read on every scrape (queue depths, pending
// approvals, kill switches on). A gauge that cannot be read returns NaN,
// which Prometheus keeps as "unknown" rather than a misleading 0.
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// CounterFunc registers a counter read on every scrape (drops).
func (m *Metrics) CounterFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
