//go:build bench

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func run(ctx context.Context, args []string, getenv func(string) string) error {
	o, err := parseOptions(args, getenv)
	if err != nil {
		return err
	}
	w, err := newWorld(o)
	if err != nil {
		return err
	}
	defer w.close()
	go func() { <-ctx.Done(); w.close() }()

	var report bytes.Buffer
	out := io.MultiWriter(os.Stdout, &report)
	fmt.Fprintf(out, "# Bridle benchmark ladder — %s\n\n", time.Now().UTC().Format(time.RFC3339))
	writeMachine(out, o)
	fmt.Fprintf(os.Stderr, "ladder: results and logs in %s\n", o.out)

	if err := w.startUpstream(); err != nil {
		return err
	}
	needGateway := o.rungs["3"] || o.rungs["4"] || o.rungs["5"] || o.rungs["check"]
	if needGateway {
		if err := w.startRedis(); err != nil {
			return err
		}
		if err := w.startBridle(); err != nil {
			return err
		}
		if err := w.startNoop(); err != nil {
			return err
		}
	}
	l := &ladder{w: w, o: o}
	if err := l.run(ctx); err != nil {
		return err
	}
	fmt.Fprintln(out)
	writeTable(out, l.rows)
	fmt.Fprintln(out)
	for _, n := range l.notes {
		fmt.Fprintf(out, "- %s\n", n)
	}
	fmt.Fprintf(out, "- load average at the end: %s (start: %s)\n", loadAvg(), l.loadStart)
	return os.WriteFile(filepath.Join(o.out, "table.md"), report.Bytes(), 0o644)
}

// ladder runs the rungs in order and collects rows and notes.
type ladder struct {
	w         *world
	o         *options
	rows      []*row
	notes     []string
	loadStart string
}

func (l *ladder) run(ctx context.Context) error {
	l.loadStart = loadAvg()
	o, w := l.o, l.w
	gwCPU, loadCPU := o.cpuGateway, o.cpuLoad
	place := fmt.Sprintf("load+upstream %s · gateway %s", loadCPU, gwCPU)
	repo := "acme/api"
	if o.unique {
		repo = "acme/r{uuid}"
	}
	path := "/repos/" + repo + "/pulls/42"
	wrkPath := strings.Replace(path, "{uuid}", "%d", 1)

	// 1. Direct.
	var direct *row
	if o.rungs["1"] {
		t := target{
			url: "https://" + benchHost + ":" + portOf(w.upAddr) + path, caPath: w.upCAPath, env: proxyEnv(""),
			connect: "https://" + w.upAddr, wrkPath: wrkPath, host: benchHost, status: 200,
		}
		direct = &row{rung: "1", name: "direct to upstream", path: "HTTPS keep-alive", placement: "client+upstream " + loadCPU}
		if err := l.measure(ctx, "direct", direct, t, nil, o.rate, true); err != nil {
			return err
		}
	}

	// 2. The proxy ceiling: Envoy with no ext_authz.
	var ceil [3]*row
	if o.rungs["2"] {
		e, err := w.ceilingEnvoy()
		if err != nil {
			return err
		}
		ceil, err = l.envoyRows(ctx, "2", "Envoy, no ext_authz", "ceiling", e, [3]*row{direct, direct, direct}, [3]*row{}, nil, place, path, wrkPath, false)
		e.stop()
		if err != nil {
			return err
		}
	}

	// 3. Envoy + the no-op decision service, Bridle's Envoy config.
	var noop [3]*row
	if o.rungs["3"] {
		e, err := w.bridleEnvoy("envoy-noop", w.noopAddr)
		if err != nil {
			return err
		}
		noop, err = l.envoyRows(ctx, "3", "Envoy + no-op ext_authz", "noop", e, ceil, ceil, []int{w.noop.pid()}, place, path, wrkPath, false)
		e.stop()
		if err != nil {
			return err
		}
	}

	// 4 and 5. Envoy + Bridle, then its deny path.
	if o.rungs["4"] || o.rungs["5"] {
		e, err := w.bridleEnvoy("envoy-bridle", w.authzAddr)
		if err != nil {
			return err
		}
		err = l.bridleRows(ctx, e, noop, ceil, place, path, wrkPath)
		e.stop()
		if err != nil {
			return err
		}
	}

	// Another ext_authz v3 server, same Envoy config and requests.
	if o.authzAddr != "" && (o.rungs["4"] || o.rungs["3"]) {
		e, err := w.bridleEnvoy("envoy-other", o.authzAddr)
		if err != nil {
			return err
		}
		_, err = l.envoyRows(ctx, "4x", "Envoy + "+o.authzName, "other", e, noop, ceil, o.authzPIDs, place, path, wrkPath, false)
		e.stop()
		if err != nil {
			return err
		}
	}

	if o.rungs["check"] {
		return l.checkOnly(ctx, wrkPath)
	}
	return nil
}

// envoyRows measures plain HTTP, CONNECT+MITM and MITM with a new
// connection per request through one Envoy. above and ceiling are the rows
// of the same paths to compare against; gw are the decision-service pids
// (Envoy's own is added).
func (l *ladder) envoyRows(ctx context.Context, rung, name, key string, e *gatewayEnvoy, above, ceiling [3]*row, gw []int, place, path, wrkPath string, deny bool) ([3]*row, error) {
	gw = append([]int{e.pid()}, gw...)
	status := 200
	if deny {
		status = 403
	}
	auth := benchAgent + ":" + l.w.token
	proxyURL := "http://" + auth + "@" + e.proxy
	ts := [3]target{
		{url: "http://" + benchHost + path, env: proxyEnv(proxyURL), status: status,
			connect: "http://" + e.proxy, wrkPath: "http://" + benchHost + wrkPath, host: benchHost,
			proxyAuth: "Basic " + base64.StdEncoding.EncodeToString([]byte(auth))},
		{url: "https://" + benchHost + path, env: proxyEnv(proxyURL), caPath: e.caPath, status: status},
		{url: "https://" + benchHost + path, env: proxyEnv(proxyURL), caPath: e.caPath, status: status, fresh: true},
	}
	paths := [3]string{"plain HTTP", "CONNECT+MITM", "MITM, new conn+TLS per req"}
	var rows [3]*row
	for i, t := range ts {
		if deny && i == 2 {
			break
		}
		r := &row{rung: rung, name: name, path: paths[i], placement: place, above: above[i], ceiling: ceiling[i]}
		if r.ceiling == nil {
			r.ceiling = r
		}
		rate := l.o.rate
		if t.fresh {
			rate = l.o.freshRate
		}
		if err := l.measure(ctx, fmt.Sprintf("%s-%d", key, i), r, t, gw, rate, i == 0); err != nil {
			return rows, err
		}
		rows[i] = r
	}
	return rows, nil
}

// bridleRows measures rung 4 (allow) and rung 5 (deny) through Bridle, and
// Redis's share: commands and read events (round trips) per allowed request.
func (l *ladder) bridleRows(ctx context.Context, e *gatewayEnvoy, noop, ceil [3]*row, place, path, wrkPath string) error {
	w := l.w
	gw := []int{w.bridle.pid(), w.redis.pid()}
	above := noop
	if l.o.rungs["4"] {
		before, err := redisStats(w.redisAddr)
		if err != nil {
			return err
		}
		checks0 := decisions(w.apiAddr)
		rows, err := l.envoyRows(ctx, "4", "Envoy + Bridle", "bridle", e, noop, ceil, gw, place, path, wrkPath, false)
		if err != nil {
			return err
		}
		above = rows
		after, err := redisStats(w.redisAddr)
		if err != nil {
			return err
		}
		var allowed int64
		for _, r := range rows {
			if r == nil {
				continue
			}
			for _, m := range []*measurement{r.lat, r.sat} {
				if m != nil {
					allowed += m.n - m.bad
				}
			}
		}
		if allowed > 0 {
			calls := after.evalsha - before.evalsha
			usec := 0.0
			if calls > 0 {
				usec = float64(after.evalshaUsec-before.evalshaUsec) / float64(calls)
			}
			l.notes = append(l.notes, fmt.Sprintf("Redis per allowed request (rung 4, all runs, %d allowed): %.2f EVALSHA (%.1f µs each inside redis-server, script only), %.2f commands counted by Redis (script calls included), %.2f read events (≈ round trips); %.2f Checks per request (Bridle's bridle_decisions_total)",
				allowed, float64(calls)/float64(allowed), usec, float64(after.commands-before.commands)/float64(allowed),
				float64(after.reads-before.reads)/float64(allowed), float64(decisions(w.apiAddr)-checks0)/float64(allowed)))
		}
	}
	if l.o.rungs["5"] {
		denyPath, denyWrk := strings.Replace(path, "acme/", "secret/", 1), strings.Replace(wrkPath, "acme/", "secret/", 1)
		if _, err := l.envoyRows(ctx, "5", "Envoy + Bridle, deny (403 policy_deny)", "deny", e, above, ceil, gw, place, denyPath, denyWrk, true); err != nil {
			return err
		}
	}
	return nil
}

// checkOnly runs ghz straight at the no-op server and at Bridle (and at
// BENCH_AUTHZ_ADDR), at fixed rates and at saturation with a fixed number
// of Checks, the server's CPU read before and after.
func (l *ladder) checkOnly(ctx context.Context, pathFormat string) error {
	w, o := l.w, l.o
	if err := writeProtoset(filepath.Join(w.dir, "authz.protoset")); err != nil {
		return err
	}
	write := func(name, pathFormat string, n int) (string, error) {
		f := filepath.Join(w.dir, name)
		what, err := checkRequests(f, w.dumpDir, pathFormat, w.token, n)
		if err != nil {
			return "", err
		}
		l.notes = append(l.notes, fmt.Sprintf("Check-only requests %s: %s", name, what))
		return f, nil
	}
	// Enough distinct requests that none repeats within a run (Bridle's
	// decision cache would answer a repeat).
	n := o.checks
	for _, r := range o.ghzRates {
		n = max(n, r*int(o.duration/time.Second)+r)
	}
	varied, err := write("check-requests.bin", pathFormat, n)
	if err != nil {
		return err
	}
	same, err := write("check-request-same.bin", "/repos/acme/api/pulls/42", 1)
	if err != nil {
		return err
	}
	place := fmt.Sprintf("ghz %s · server %s", o.cpuLoad, o.cpuGateway)
	type server struct {
		key, name, addr, data string
		pids                  []int
	}
	servers := []server{
		{"noop", "no-op ext_authz", w.noopAddr, varied, []int{w.noop.pid()}},
		{"bridle", "Bridle", w.authzAddr, varied, []int{w.bridle.pid(), w.redis.pid()}},
		{"bridle-same", "Bridle, same request (policy cache hits)", w.authzAddr, same, []int{w.bridle.pid(), w.redis.pid()}},
	}
	if o.authzAddr != "" {
		servers = append(servers, server{"other", o.authzName, o.authzAddr, varied, o.authzPIDs})
	}
	ceilings := map[string]*row{}
	for _, s := range servers {
		if err := probeCheck(ctx, s.addr, s.data); err != nil {
			return fmt.Errorf("Check-only, %s: %w", s.name, err)
		}
		for _, rate := range append(append([]int{}, o.ghzRates...), 0) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r := &row{rung: "C", name: "Check-only: " + s.name, path: "gRPC Check", placement: place}
			key := fmt.Sprint(rate)
			if c, ok := ceilings[key]; ok {
				r.above, r.ceiling = c, c
			} else {
				ceilings[key] = r
				r.ceiling = r
			}
			name := fmt.Sprintf("ghz-%s-%d", s.key, rate)
			fmt.Fprintf(os.Stderr, "ladder: %s\n", name)
			m, err := w.ghz(name, s.addr, s.data, rate, s.pids)
			if err != nil {
				return err
			}
			if rate > 0 {
				r.lat = &m
			} else {
				r.sat = &m
				r.path = fmt.Sprintf("gRPC Check (sat p50 %s p99 %s ms)", ms(m.p50), ms(m.p99))
				l.split(r, s.pids)
			}
			l.rows = append(l.rows, r)
		}
	}
	return nil
}

// measure probes a target once (status, credential), then runs the
// fixed-rate latency run and the saturation run. Direct and plain HTTP
// saturate with wrk; CONNECT needs fortio's net/http client.
func (l *ladder) measure(ctx context.Context, key string, r *row, t target, gw []int, rate int, useWrk bool) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := probe(t, l.w.upAddr); err != nil {
		return fmt.Errorf("%s (%s %s): %w", key, r.name, r.path, err)
	}
	fmt.Fprintf(os.Stderr, "ladder: %s — %s, %s\n", key, r.name, r.path)
	lat, err := l.w.fortio(key+"-rate", t, rate, l.o.latConns, gw)
	if err != nil {
		return err
	}
	r.lat = &lat
	var sat measurement
	if useWrk && !t.fresh {
		sat, err = l.w.wrk(key+"-sat", t, l.o.satConns, gw)
	} else {
		sat, err = l.w.fortio(key+"-sat", t, 0, l.o.satConns, gw)
	}
	if err != nil {
		return err
	}
	r.sat = &sat
	l.split(r, gw)
	l.rows = append(l.rows, r)
	return nil
}

// split notes how a saturation run's gateway CPU per request divides
// between the gateway's processes.
func (l *ladder) split(r *row, gw []int) {
	if r.sat == nil || len(r.sat.split) != len(gw) || len(gw) < 2 {
		return
	}
	parts := make([]string, len(gw))
	for i, pid := range gw {
		parts[i] = fmt.Sprintf("%s %.1f", l.w.procName(pid), float64(r.sat.split[i])/float64(time.Microsecond))
	}
	l.notes = append(l.notes, fmt.Sprintf("rung %s %s, %s at saturation: gateway CPU µs/req = %s", r.rung, r.name, r.path, strings.Join(parts, " + ")))
}

func proxyEnv(proxy string) []string {
	return []string{"HTTP_PROXY=" + proxy, "HTTPS_PROXY=" + proxy, "http_proxy=" + proxy, "https_proxy=" + proxy, "NO_PROXY=", "no_proxy="}
}

func portOf(addr string) string {
	_, p, _ := strings.Cut(addr, ":")
	return p
}
