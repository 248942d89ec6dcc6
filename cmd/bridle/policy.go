package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bridle-gw/bridle/policies"
)

// newPolicyCmd builds `bridle policy compile|test|explain`, the tools policy
// authors use before a policy reaches the gateway. Each loads its FILES with
// the same loader the gateway uses, so an error here is an error there.
func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Compile, test and explain YAML policies",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newPolicyCompileCmd(), newPolicyTestCmd(), newPolicyExplainCmd())
	return cmd
}

// loadPolicyFiles loads the policy files named by args (globs allowed).
func loadPolicyFiles(args []string) (*policies.Set, error) {
	files, err := policies.ExpandGlobs("", args)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no policy files match %s", strings.Join(args, " "))
	}
	return policies.Load(files)
}

func newPolicyCompileCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "compile FILES...",
		Short: "Print the Rego module the policy files compile to",
		Long: "Prints the Rego v1 module Bridle evaluates. It runs in stock OPA:\n" +
			"  opa eval -d policy.rego -I 'data.bridle.policies.decision' < input.json",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadPolicyFiles(args)
			if err != nil {
				return fmt.Errorf("policy compile: %w", err)
			}
			_, err = io.WriteString(cmd.OutOrStdout(), s.Rego())
			return err
		},
	}
}

func newPolicyTestCmd() *cobra.Command {
	var caseFiles []string
	cmd := &cobra.Command{
		Use:   "test FILES... --cases CASES.yaml",
		Short: "Run test cases against the policy files",
		Long: "Evaluates every case of the cases files against the policy files and prints\n" +
			"one line per case, with expected and actual decisions for each failure.\n" +
			"Exits non-zero if any case fails.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadPolicyFiles(args)
			if err != nil {
				return fmt.Errorf("policy test: %w", err)
			}
			now := time.Now()
			failed, total := 0, 0
			for _, file := range caseFiles {
				cases, err := policies.LoadCases(file, now)
				if err != nil {
					return fmt.Errorf("policy test: %w", err)
				}
				if len(caseFiles) > 1 {
					fmt.Fprintf(cmd.OutOrStdout(), "== %s\n", file)
				}
				n, err := policies.WriteCaseReport(cmd.OutOrStdout(), s.RunCases(cmd.Context(), cases))
				if err != nil {
					return err
				}
				failed += n
				total += len(cases)
			}
			if failed > 0 {
				return fmt.Errorf("policy test: %d of %d cases failed", failed, total)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&caseFiles, "cases", nil, "cases file (repeatable)")
	_ = cmd.MarkFlagRequired("cases")
	return cmd
}

// explainFlags are the parts of a request explain builds its input from.
type explainFlags struct {
	in      policies.Input
	params  []string
	hour    int
	weekday string
}

func newPolicyExplainCmd() *cobra.Command {
	var f explainFlags
	cmd := &cobra.Command{
		Use:   "explain FILES... --action ACTION [--param k=v]...",
		Short: "Show the decision for one action and why each rule matched or not",
		Long: "Evaluates one action and prints the decision, the deciding rule, every\n" +
			"matched rule and the near misses: rules whose actions cover the action\n" +
			"but whose agents: scope or conditions did not hold, with the condition\n" +
			"that failed and what the input held. --param values are YAML, so\n" +
			"amount=500 is a number and draft=true a boolean; a.b=x sets a nested\n" +
			"param. Time defaults to now, in UTC.",
		Example: "  bridle policy explain policies/*.yaml --action github.pr.merge \\\n" +
			"    --param repo=acme/api --param number=7 --agent triage-bot",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadPolicyFiles(args)
			if err != nil {
				return fmt.Errorf("policy explain: %w", err)
			}
			in, err := f.input(time.Now())
			if err != nil {
				return fmt.Errorf("policy explain: %w", err)
			}
			ex, err := s.Explain(cmd.Context(), in)
			if err != nil {
				return fmt.Errorf("policy explain: %w", err)
			}
			return writeExplanation(cmd.OutOrStdout(), in, ex)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.in.Action, "action", "", "action type, e.g. github.pr.merge (required)")
	fl.StringArrayVar(&f.params, "param", nil, "param as name=value, value parsed as YAML (repeatable)")
	fl.StringVar(&f.in.Agent, "agent", "", "agent name")
	fl.StringVar(&f.in.Connector, "connector", "", "connector name")
	fl.StringVar(&f.in.Method, "method", "", "HTTP method")
	fl.StringVar(&f.in.Host, "host", "", "upstream host")
	fl.StringVar(&f.in.Path, "path", "", "request path")
	fl.IntVar(&f.hour, "time-hour", -1, "hour of the request, 0-23 UTC (default: now)")
	fl.StringVar(&f.weekday, "weekday", "", "weekday of the request: mon..sun (default: today)")
	_ = cmd.MarkFlagRequired("action")
	return cmd
}

// input builds the Input the flags describe.
func (f *explainFlags) input(now time.Time) (policies.Input, error) {
	in := f.in
	t, err := policies.RequestTime(now, f.hour, f.weekday)
	if err != nil {
		return in, err
	}
	in.Time = t
	for _, p := range f.params {
		name, text, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return in, fmt.Errorf("--param %q: write name=value", p)
		}
		v, err := policies.ParseValue(text)
		if err != nil {
			return in, fmt.Errorf("--param %s: %w", name, err)
		}
		if in.Params == nil {
			in.Params = map[string]any{}
		}
		if err := setParam(in.Params, strings.Split(name, "."), v); err != nil {
			return in, fmt.Errorf("--param %s: %w", name, err)
		}
	}
	return in, nil
}

// setParam sets a dotted param name, creating nested maps.
func setParam(m map[string]any, path []string, v any) error {
	for _, seg := range path[:len(path)-1] {
		next, exists := m[seg]
		if !exists {
			child := map[string]any{}
			m[seg] = child
			m = child
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			return errors.New("conflicts with another --param")
		}
		m = child
	}
	m[path[len(path)-1]] = v
	return nil
}

// writeExplanation prints the decision, matched rules and near misses.
func writeExplanation(w io.Writer, in policies.Input, ex policies.Explanation) error {
	var b strings.Builder
	d := ex.Decision
	fmt.Fprintf(&b, "decision: %s\n", policies.DescribeDecision(d))
	if d.Rule != nil {
		fmt.Fprintf(&b, "rule:     %s (%s)\n", d.Rule, d.Rule.Location())
	}
	fmt.Fprintf(&b, "input:    action %s, agent %q, time %s UTC\n", in.Action, in.Agent, in.Time.Format("Mon 15:04"))
	if len(ex.Rules) == 0 {
		fmt.Fprintf(&b, "no rule's actions cover %s\n", in.Action)
	}
	if len(d.Matched) > 0 {
		b.WriteString("matched:\n")
		for _, t := range ex.Rules {
			if t.Matched {
				fmt.Fprintf(&b, "  %s  %s  %s\n", t.Rule, t.Effect, t.Rule.Location())
			}
		}
	}
	misses := false
	for _, t := range ex.Rules {
		if t.Matched {
			continue
		}
		if !misses {
			b.WriteString("near misses:\n")
			misses = true
		}
		fmt.Fprintf(&b, "  %s  %s  %s\n", t.Rule, t.Effect, t.Rule.Location())
		if t.OutOfScope {
			fmt.Fprintf(&b, "    agent %q is not in the policy's agents: %s\n", in.Agent, strings.Join(t.Agents, ", "))
		}
		for _, fl := range t.Failures {
			fmt.Fprintf(&b, "    %s (line %d): %s, but %s\n", fl.Path, fl.Line, fl.Condition, fl.Why)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
