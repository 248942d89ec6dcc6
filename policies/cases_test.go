package policies

import (
	"bytes"
	"testing"
	"time"
)

func TestParseCasesReadsTimeAndParams(t *testing.T) {
	now := wednesdayNoon // a Wednesday
	cases, err := ParseCases("c.yaml", []byte(`cases:
  - name: weekend merge
    input: {agent: a, action: github.pr.merge, params: {n: 3, ok: true, nested: {x: [1, "two"]}, day: 2024-01-01}, time: {weekday: sat, hour: 14}}
    expect: deny
    rule: p/r
    reason: policy_deny
  - name: default time
    input: {action: x.y.z}
    expect: allow
`), now)
	if err != nil {
		t.Fatal(err)
	}
	c := cases[0]
	if got := c.Input.Time; got.Weekday() != time.Saturday || got.Hour() != 14 || got.Before(now) {
		t.Errorf("got time %v, want the coming Saturday at 14:00 UTC", got)
	}
	if c.Input.Params["n"] != 3.0 || c.Input.Params["ok"] != true || c.Input.Params["day"] != "2024-01-01" {
		t.Errorf("got params %#v", c.Input.Params)
	}
	if c.Expect != Deny || c.Rule != "p/r" || c.Reason != ReasonPolicyDeny || c.Line != 2 {
		t.Errorf("got %+v", c)
	}
	if !cases[1].Input.Time.Equal(now) {
		t.Errorf("got time %v, want now (%v)", cases[1].Input.Time, now)
	}
}

func TestParseCasesReportsEveryProblem(t *testing.T) {
	_, err := ParseCases("c.yaml", []byte(`cases:
  - name: a
    input: {action: x, agnt: b, time: {hour: 24, weekday: someday}}
    expect: alow
  - input: {action: x}
    reason: nope
`), wednesdayNoon)
	want := `c.yaml:3:24: cases[0].input.agnt: unknown key "agnt" (did you mean agent?)
c.yaml:3:46: cases[0].input.time.hour: invalid hour "24" (hours are whole numbers 0 to 23, in UTC)
c.yaml:3:59: cases[0].input.time.weekday: unknown weekday "someday" (weekdays are mon tue wed thu fri sat sun)
c.yaml:4:13: cases[0].expect: unknown effect "alow" (did you mean allow?)
c.yaml:5:5: cases[1].name: missing required key
c.yaml:5:5: cases[1].expect: missing required key
c.yaml:6:13: cases[1].reason: unknown reason "nope" (use policy_deny, default_deny or policy_error)`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestCaseReportShowsAReadableDiff(t *testing.T) {
	s := loadFixture(t, "precedence")
	cases, err := ParseCases("c.yaml", []byte(`cases:
  - name: reads are allowed
    input: {action: github.repo.get}
    expect: allow
    rule: read anything
  - name: deletes are allowed (wrong on purpose)
    input: {action: github.repo.delete}
    expect: allow
    rule: everything github
  - name: merges need approval by the wrong rule
    input: {action: github.pr.merge, params: {base: main}}
    expect: require_approval
    rule: release merges need approval too
`), wednesdayNoon)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	failed, err := WriteCaseReport(&out, s.RunCases(t.Context(), cases))
	if err != nil {
		t.Fatal(err)
	}
	want := `ok   reads are allowed
FAIL deletes are allowed (wrong on purpose) (c.yaml:6)
     expected: allow by everything github
     got:      deny by base/never delete repositories (policy_deny)
     matched:  base/never delete repositories (testdata/precedence.yaml:15)
     matched:  base/everything github (testdata/precedence.yaml:16)
FAIL merges need approval by the wrong rule (c.yaml:10)
     expected: require_approval by release merges need approval too
     got:      require_approval by base/merges to main need approval
     matched:  base/allow merges (testdata/precedence.yaml:6)
     matched:  base/merges to main need approval (testdata/precedence.yaml:7)
     matched:  base/everything github (testdata/precedence.yaml:16)
3 cases: 1 passed, 2 failed
`
	if failed != 2 || out.String() != want {
		t.Errorf("got %d failed and\n%s\nwant 2 and\n%s", failed, out.String(), want)
	}
}
