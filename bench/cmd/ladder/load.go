//go:build bench

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// measurement is what one load run gives.
type measurement struct {
	tool        string
	load        string // "1000/s", "sat c=50", "n=50000 c=50"
	rate        float64
	n           int64
	bad         int64 // responses other than the expected status, and transport errors
	p50, p90    time.Duration
	p99, p999   time.Duration
	hasLatency  bool
	cpuPerOp    time.Duration // gateway processes' CPU per operation
	hasCPU      bool
	gwBusy      float64         // gateway processes' CPU over wall time, in cores
	split       []time.Duration // CPU per operation of each gateway process, in the order given
	foreignLoad float64         // other processes' share of the machine during the run (0–1)
}

// meter snapshots CPU around one load run: the gateway processes (whose
// CPU per operation is reported), our load-side processes, and the machine
// as a whole (the rest is other people's load, reported as foreign).
type meter struct {
	gw, ours []int
	gw0      []time.Duration
	ours0    time.Duration
	busy0    time.Duration
	t0       time.Time
}

func startMeter(gw, ours []int) *meter {
	m := &meter{gw: gw, ours: append([]int{os.Getpid()}, ours...), busy0: machineBusy(), t0: time.Now()}
	for _, pid := range gw {
		c, _ := procCPU(pid)
		m.gw0 = append(m.gw0, c)
	}
	m.ours0, _ = cpuOf(m.ours)
	return m
}

// finish fills mm's CPU figures; tool is the load generator's own CPU.
func (m *meter) finish(mm *measurement, ops int64, tool time.Duration) {
	wall := time.Since(m.t0)
	var gw time.Duration
	var err1 error
	for i, pid := range m.gw {
		c, err := procCPU(pid)
		if err != nil {
			err1 = err
			break
		}
		gw += c - m.gw0[i]
		if ops > 0 {
			mm.split = append(mm.split, (c-m.gw0[i])/time.Duration(ops))
		}
	}
	ours, err2 := cpuOf(m.ours)
	busy := machineBusy() - m.busy0
	if err1 == nil && len(m.gw) > 0 && ops > 0 {
		mm.cpuPerOp = gw / time.Duration(ops)
		mm.hasCPU = true
		mm.gwBusy = float64(gw) / float64(wall)
	}
	if err1 == nil && err2 == nil && wall > 0 {
		foreign := busy - gw - (ours - m.ours0) - tool
		mm.foreignLoad = max(0, float64(foreign)/float64(wall)/float64(numCPU()))
	}
}

func numCPU() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return 1
	}
	n := 0
	for _, r := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, found := strings.Cut(r, "-")
		a, _ := strconv.Atoi(lo)
		z := a
		if found {
			z, _ = strconv.Atoi(hi)
		}
		n += z - a + 1
	}
	return max(n, 1)
}

// runTool runs a load generator pinned to the load CPU and returns its
// stdout and CPU time.
func (w *world) runTool(name string, env []string, bin string, args ...string) ([]byte, time.Duration, error) {
	cmd := exec.Command("taskset", append([]string{"-c", w.o.cpuLoad, bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	logf := filepath.Join(w.dir, name+".out")
	_ = os.WriteFile(logf, append(out.Bytes(), errb.Bytes()...), 0o644)
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return nil, cpu, fmt.Errorf("%s: %v; see %s", name, err, logf)
	}
	return out.Bytes(), cpu, nil
}

// target says how a client reaches the upstream in one row.
type target struct {
	url    string   // what the client asks for
	env    []string // HTTP(S)_PROXY for the proxied paths
	caPath string   // roots for the TLS the client terminates
	// for wrk, which has no proxy support: where to connect and what to send
	connect, wrkPath, host, proxyAuth string
	status                            int // the expected status
	fresh                             bool
}

// fortio runs fortio's standard (net/http) client: the only load tool here
// that speaks CONNECT. qps 0 is saturation.
func (w *world) fortio(name string, t target, qps, conns int, gw []int) (measurement, error) {
	jsonPath := filepath.Join(w.dir, name+".json")
	args := []string{"load", "-quiet", "-stdclient", "-qps", strconv.Itoa(qps), "-c", strconv.Itoa(conns),
		"-t", w.o.duration.String(), "-p", "50,90,99,99.9", "-r", "0.00001", "-json", jsonPath, "-uniform",
		"-allow-initial-errors"}
	if t.caPath != "" {
		args = append(args, "-cacert", t.caPath)
	}
	if t.fresh {
		args = append(args, "-keepalive=false")
	}
	// fortio insists that the URL's host resolves, even when a proxy
	// dials; -resolve also redirects dials, which are all to 127.0.0.1.
	args = append(args, "-resolve", "127.0.0.1")
	args = append(args, t.url)
	m := startMeter(gw, w.loadSide())
	_, toolCPU, err := w.runTool(name, t.env, w.o.fortio, args...)
	if err != nil {
		return measurement{}, err
	}
	var r struct {
		ActualQPS         float64
		DurationHistogram struct {
			Count       int64
			Percentiles []struct{ Percentile, Value float64 }
		}
		RetCodes map[string]int64
	}
	b, err := os.ReadFile(jsonPath)
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	if err != nil {
		return measurement{}, fmt.Errorf("%s: reading %s: %w", name, jsonPath, err)
	}
	load := fmt.Sprintf("%d/s c=%d", qps, conns)
	if qps == 0 {
		load = fmt.Sprintf("sat c=%d", conns)
	}
	mm := measurement{tool: "fortio", load: load, rate: r.ActualQPS, n: r.DurationHistogram.Count, hasLatency: true}
	for code, n := range r.RetCodes {
		if code != strconv.Itoa(t.status) {
			mm.bad += n
		}
	}
	for _, p := range r.DurationHistogram.Percentiles {
		d := time.Duration(p.Value * float64(time.Second))
		switch p.Percentile {
		case 50:
			mm.p50 = d
		case 90:
			mm.p90 = d
		case 99:
			mm.p99 = d
		case 99.9:
			mm.p999 = d
		}
	}
	m.finish(&mm, mm.n, toolCPU)
	return mm, nil
}

var (
	wrkRate  = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkTotal = regexp.MustCompile(`(\d+) requests in`)
	wrkBad   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	wrkErrs  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// wrk runs a saturation run: one thread (the load CPU is one core), conns
// connections, a fresh repo name per request when o.unique.
func (w *world) wrk(name string, t target, conns int, gw []int) (measurement, error) {
	script := filepath.Join(w.dir, name+".lua")
	var s strings.Builder
	fmt.Fprintf(&s, "wrk.method = \"GET\"\nwrk.headers[\"Host\"] = %q\n", t.host)
	if t.proxyAuth != "" {
		fmt.Fprintf(&s, "wrk.headers[\"Proxy-Authorization\"] = %q\n", t.proxyAuth)
	}
	if strings.Contains(t.wrkPath, "%d") {
		fmt.Fprintf(&s, "local n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(nil, string.format(%q, n))\nend\n", t.wrkPath)
	} else {
		fmt.Fprintf(&s, "wrk.path = %q\n", t.wrkPath)
	}
	if err := os.WriteFile(script, []byte(s.String()), 0o644); err != nil {
		return measurement{}, err
	}
	m := startMeter(gw, w.loadSide())
	out, toolCPU, err := w.runTool(name, nil, w.o.wrk, "-t1", "-c"+strconv.Itoa(conns), "-d"+w.o.duration.String(), "-s", script, t.connect)
	if err != nil {
		return measurement{}, err
	}
	mm := measurement{tool: "wrk", load: fmt.Sprintf("sat c=%d", conns)}
	if g := wrkRate.FindSubmatch(out); g != nil {
		mm.rate, _ = strconv.ParseFloat(string(g[1]), 64)
	} else {
		return measurement{}, fmt.Errorf("%s: no Requests/sec in wrk output:\n%s", name, out)
	}
	if g := wrkTotal.FindSubmatch(out); g != nil {
		mm.n, _ = strconv.ParseInt(string(g[1]), 10, 64)
	}
	non2xx := int64(0)
	if g := wrkBad.FindSubmatch(out); g != nil {
		non2xx, _ = strconv.ParseInt(string(g[1]), 10, 64)
	}
	if t.status/100 == 2 {
		mm.bad = non2xx
	} else {
		mm.bad = mm.n - non2xx // every response should have been the deny
	}
	if g := wrkErrs.FindSubmatch(out); g != nil {
		for _, v := range g[1:] {
			n, _ := strconv.ParseInt(string(v), 10, 64)
			mm.bad += n
		}
	}
	m.finish(&mm, mm.n, toolCPU)
	return mm, nil
}

// ghz runs Checks straight at an ext_authz server. rps 0 is saturation
// with a fixed number of Checks (o.checks), the CPU-per-Check run.
func (w *world) ghz(name, addr, dataPath string, rps int, gw []int) (measurement, error) {
	jsonPath := filepath.Join(w.dir, name+".json")
	args := []string{"--insecure", "--protoset", filepath.Join(w.dir, "authz.protoset"),
		"--call", "envoy.service.auth.v3.Authorization.Check", "--binary-file", dataPath,
		"--connections", "1", "--format", "json", "--output", jsonPath}
	var load string
	if rps > 0 {
		// Enough workers that a slow answer does not hold the rate back.
		conns := max(4, min(50, rps/100))
		args = append(args, "--rps", strconv.Itoa(rps), "--concurrency", strconv.Itoa(conns), "--duration", w.o.duration.String())
		load = fmt.Sprintf("%d/s", rps)
	} else {
		args = append(args, "--concurrency", strconv.Itoa(w.o.satConns), "--total", strconv.Itoa(w.o.checks))
		load = fmt.Sprintf("sat n=%d c=%d", w.o.checks, w.o.satConns)
	}
	args = append(args, addr)
	m := startMeter(gw, w.loadSide())
	_, toolCPU, err := w.runTool(name, nil, w.o.ghz, args...)
	if err != nil {
		return measurement{}, err
	}
	var r struct {
		Count   int64
		Rps     float64
		Details []struct {
			Latency int64
			Error   string
			Status  string
		}
	}
	b, err := os.ReadFile(jsonPath)
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	if err != nil {
		return measurement{}, fmt.Errorf("%s: reading %s: %w", name, jsonPath, err)
	}
	mm := measurement{tool: "ghz", load: load, rate: r.Rps, n: r.Count, hasLatency: true}
	// Calls still in flight when a timed run ends fail with the closed
	// connection: an artifact of stopping, not an answer.
	lat := make([]time.Duration, 0, len(r.Details))
	for _, d := range r.Details {
		if d.Error != "" && rps > 0 && (strings.Contains(d.Error, "closed network connection") || strings.Contains(d.Error, "Canceled")) {
			mm.n--
			continue
		}
		if d.Status != "OK" {
			mm.bad++
		}
		lat = append(lat, time.Duration(d.Latency))
	}
	slices.Sort(lat)
	mm.p50, mm.p90, mm.p99, mm.p999 = pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 99.9)
	m.finish(&mm, mm.n, toolCPU)
	return mm, nil
}

// pct is the nearest-rank percentile of sorted durations.
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// loadSide are our processes whose CPU is not the gateway's: the upstream.
func (w *world) loadSide() []int {
	if w.upstream == nil {
		return nil
	}
	return []int{w.upstream.pid()}
}
