package redis

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// How approvals are named in Redis and read back from the scripts.

func approvalPrefix(agent string) string { return "bridle:{" + agent + "}:approval:" }

func validApprovalKey(agent, specHash string) error {
	if err := validName("agent", agent); err != nil {
		return err
	}
	if len(specHash) != 64 || strings.Trim(specHash, "0123456789abcdef") != "" {
		return errors.New("spec hash is not 64 lowercase hex digits")
	}
	return nil
}

// validApprovalID refuses anything Create cannot have made, so an id from a
// URL never becomes part of a key it was not meant to name.
func validApprovalID(id string) bool {
	rest, ok := strings.CutPrefix(id, approvalIDPrefix)
	return ok && len(rest) == 26 && strings.Trim(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == ""
}

// parseScriptRecord reads {flag, now[, record]}.
func parseScriptRecord(res []any) (flag int64, ap Approval, now time.Time, err error) {
	if len(res) < 2 {
		return 0, Approval{}, time.Time{}, fmt.Errorf("unexpected script result %v", res)
	}
	flag, ok := res[0].(int64)
	if !ok {
		return 0, Approval{}, time.Time{}, fmt.Errorf("unexpected script result %v", res)
	}
	ap, now, err = parseRecordAt(res, 1)
	return flag, ap, now, err
}

// parseRecordAt reads {..., now, [record]} where res[i] is now: the record
// (a flat field/value list), its state as of now. A missing or empty record
// is ErrApprovalNotFound.
func parseRecordAt(res []any, i int) (Approval, time.Time, error) {
	if len(res) <= i {
		return Approval{}, time.Time{}, fmt.Errorf("unexpected script result %v", res)
	}
	nowMS, ok := res[i].(int64)
	if !ok {
		return Approval{}, time.Time{}, fmt.Errorf("unexpected script result %v", res)
	}
	now := time.UnixMilli(nowMS).UTC()
	if len(res) <= i+1 {
		return Approval{}, now, ErrApprovalNotFound
	}
	flat, ok := res[i+1].([]any)
	if !ok {
		return Approval{}, now, fmt.Errorf("unexpected script result %v", res)
	}
	if len(flat) == 0 {
		return Approval{}, now, ErrApprovalNotFound
	}
	f := make(map[string]string, len(flat)/2)
	for j := 0; j+1 < len(flat); j += 2 {
		k, _ := flat[j].(string)
		v, _ := flat[j+1].(string)
		f[k] = v
	}
	ap := Approval{
		ID: f["id"], Agent: f["agent"], Connector: f["connector"], Action: f["action"], SpecHash: f["spec_hash"],
		State: f["state"], Rule: f["rule"], Decider: f["decider"], Note: f["note"],
		CreatedAt: msTime(f["created_at"]), DecidedAt: msTime(f["decided_at"]),
		ExpiresAt: msTime(f["expires_at"]), UsedAt: msTime(f["used_at"]),
	}
	if ap.ID == "" || ap.State == "" || ap.ExpiresAt.IsZero() {
		// Half a record would read as a zero approval; refuse it instead.
		return Approval{}, now, errors.New("unreadable approval record")
	}
	if (ap.State == ApprovalPending || ap.State == ApprovalApproved) && !now.Before(ap.ExpiresAt) {
		ap.State = ApprovalExpired
	}
	return ap, now, nil
}

// msTime parses ms since the epoch as Lua wrote it (an integer, or a float
// in exponent notation); "" and junk give the zero time.
func msTime(s string) time.Time {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(v)).UTC()
}

func errOr(err error) error {
	if err != nil {
		return err
	}
	return errors.New("script returned no approval")
}
