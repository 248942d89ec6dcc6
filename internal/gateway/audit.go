package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/bridle-gw/bridle/extauthz"
	"github.com/bridle-gw/bridle/internal/audit"
	"github.com/bridle-gw/bridle/internal/config"
)

// auditLog is the decision record store and its non-blocking writer.
type auditLog struct {
	store  *audit.Store
	writer *audit.Writer
}

// openAudit opens the store and starts its writer and retention.
func openAudit(ctx context.Context, cfg config.Audit, g *gateway) (*auditLog, error) {
	store, err := audit.Open(ctx, cfg.Path, audit.Options{RetentionDays: cfg.RetentionDays, Log: g.opts.Log})
	if err != nil {
		return nil, fmt.Errorf("opening audit log: %w", err)
	}
	go store.RunRetention(ctx, time.Hour)
	return &auditLog{store: store, writer: audit.NewWriter(store, audit.WriterOptions{Log: g.opts.Log})}, nil
}

// close drains the writer (records in flight are stored) and closes the
// store. Call after the servers that write to it have stopped.
func (a *auditLog) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.writer.Close(ctx)
	_ = a.store.Close()
}

// Record implements extauthz.Recorder: it never blocks (a full queue drops
// and counts), and keeps only allowlisted headers.
func (a *auditLog) Record(r extauthz.Record) {
	rec := audit.Record{
		Time: r.Time, DecisionID: r.DecisionID, Phase: r.Phase, Agent: r.Agent, Connector: r.Connector,
		Action: r.Action, Rule: r.Rule, Reason: r.Reason, Status: r.Status,
		Decision: audit.DecisionDeny, Method: r.Method, Host: r.Host, Path: r.Path,
		Approver: r.Approver, ApprovedAt: r.ApprovedAt,
	}
	if r.Allow {
		rec.Decision = audit.DecisionAllow
	}
	rec.SetHeaders(r.Headers)
	a.writer.Write(rec)
}
