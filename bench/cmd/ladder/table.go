//go:build bench

package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// row is one line of the ladder's table: a fixed-rate run (latency), a
// saturation run (throughput and gateway CPU per request), or both, with the
// rows its ratios are taken against.
type row struct {
	rung, name, path, placement string
	lat, sat                    *measurement
	above, ceiling              *row
}

const tableHeader = `| # | rung | path | CPUs | fixed-rate load | p50 / p90 / p99 / p99.9 ms | +p99 vs ceiling | gateway CPU µs/req at that rate | saturation load | req/s | × above | × ceiling | gateway CPU µs/req | × above | × ceiling | gateway busy | unexpected | other load |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
`

// writeTable prints the rows as one Markdown table.
func writeTable(out io.Writer, rows []*row) {
	io.WriteString(out, tableHeader)
	for _, r := range rows {
		cells := []string{r.rung, r.name, r.path, r.placement}
		bad, other := int64(0), 0.0
		if m := r.lat; m != nil {
			cells = append(cells, m.tool+" "+m.load+fmt.Sprintf(" (got %.0f/s)", m.rate),
				fmt.Sprintf("%s / %s / %s / %s", ms(m.p50), ms(m.p90), ms(m.p99), ms(m.p999)),
				deltaP99(r), fixedCPU(r))
			bad += m.bad
			other = max(other, m.foreignLoad)
		} else {
			cells = append(cells, "", "", "", "")
		}
		if m := r.sat; m != nil {
			cells = append(cells, m.tool+" "+m.load, fmt.Sprintf("%.0f", m.rate),
				ratio(m.rate, satOf(r.above), func(x *measurement) float64 { return x.rate }),
				ratio(m.rate, satOf(r.ceiling), func(x *measurement) float64 { return x.rate }))
			if m.hasCPU {
				cpu := float64(m.cpuPerOp) / float64(time.Microsecond)
				cells = append(cells, fmt.Sprintf("%.1f", cpu),
					ratio(cpu, cpuOfRow(r.above), cpuMicros), ratio(cpu, cpuOfRow(r.ceiling), cpuMicros),
					fmt.Sprintf("%.0f%%", m.gwBusy*100))
			} else {
				cells = append(cells, "—", "", "", "")
			}
			bad += m.bad
			other = max(other, m.foreignLoad)
		} else {
			cells = append(cells, "", "", "", "", "", "", "", "")
		}
		cells = append(cells, fmt.Sprint(bad), fmt.Sprintf("%.0f%%", other*100))
		fmt.Fprintf(out, "| %s |\n", strings.Join(cells, " | "))
	}
}

// fixedCPU is the gateway CPU per request of a fixed-rate run, with its
// ratio to the ceiling's at the same rate: at equal offered load the
// processes get the same chances to batch, which saturation runs limited
// by the load generator do not give.
func fixedCPU(r *row) string {
	if !r.lat.hasCPU {
		return ""
	}
	cpu := cpuMicros(r.lat)
	if r.ceiling != nil && r.ceiling != r && r.ceiling.lat != nil && r.ceiling.lat.hasCPU {
		return fmt.Sprintf("%.1f (× %.2f)", cpu, cpu/cpuMicros(r.ceiling.lat))
	}
	return fmt.Sprintf("%.1f", cpu)
}

func satOf(r *row) *measurement {
	if r == nil {
		return nil
	}
	return r.sat
}

func cpuOfRow(r *row) *measurement {
	if r == nil || r.sat == nil || !r.sat.hasCPU {
		return nil
	}
	return r.sat
}

func cpuMicros(m *measurement) float64 { return float64(m.cpuPerOp) / float64(time.Microsecond) }

func ratio(v float64, base *measurement, of func(*measurement) float64) string {
	if base == nil || of(base) == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", v/of(base))
}

// deltaP99 is the p99 this row adds over its ceiling's at the same load.
func deltaP99(r *row) string {
	if r.ceiling == nil || r.ceiling.lat == nil || r.ceiling == r {
		return ""
	}
	d := r.lat.p99 - r.ceiling.lat.p99
	sign := "+"
	if d < 0 {
		sign, d = "−", -d
	}
	return sign + ms(d)
}

// ms formats a duration in milliseconds with three significant digits.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}
