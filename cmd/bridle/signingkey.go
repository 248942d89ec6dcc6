package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bridle-gw/bridle/internal/config"
	"github.com/bridle-gw/bridle/internal/tokens"
)

// The noun is the one the operator already sees: the file signing-key.pem,
// the variable BRIDLE_SIGNING_KEY and the docs' "signing key". A plain
// `keys` would be ambiguous next to the vault key and the agents' tokens.
func newSigningKeyCmd(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "signing-key",
		Short: "Manage the key that signs decision tokens",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSigningKeyRotateCmd(getenv))
	return cmd
}

// defaultRotateGrace is how long the running gateways may go on signing with
// the old key before they are restarted; see tokens.Keyring.RotateWithGrace.
const defaultRotateGrace = 5 * time.Minute

func newSigningKeyRotateCmd(getenv func(string) string) *cobra.Command {
	var out string
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new decision-token signing key; the old one keeps verifying the tokens it signed",
		Long: "Rotates <state_dir>/" + tokens.KeyFile + ": a new key becomes active and the old public\n" +
			"key stays in the file with a Valid-Until of now + --grace + token TTL + leeway,\n" +
			"so tokens already issued keep verifying until they expire. Retired keys past\n" +
			"their Valid-Until are dropped. Restart bridle afterwards, within --grace.\n\n" +
			"With $" + tokens.EnvSigningKey + " set, the ring comes from you, not the state dir:\n" +
			"give --out FILE to write the rotated ring there for you to distribute.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grace < 0 {
				return errors.New("signing-key rotate: --grace must not be negative")
			}
			w := cmd.OutOrStdout()
			now := time.Now()
			if ring := getenv(tokens.EnvSigningKey); ring != "" {
				if out == "" {
					return errors.New(suppliedRingProcedure)
				}
				return rotateSuppliedRing(w, ring, out, now, grace)
			}
			if out != "" {
				return fmt.Errorf("signing-key rotate: --out is for a ring given in $%s, which is not set here; without it the ring in the state dir is rotated in place", tokens.EnvSigningKey)
			}
			stateDir, err := config.PeekStateDir(configPath(cmd))
			if err != nil {
				return err
			}
			return rotateStateRing(w, stateDir, now, grace)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "with $"+tokens.EnvSigningKey+" set: write the rotated ring to this new file (0600)")
	cmd.Flags().DurationVar(&grace, "grace", defaultRotateGrace, "time within which every replica will be restarted (the old key may sign until then)")
	return cmd
}

const suppliedRingProcedure = "signing-key rotate: $" + tokens.EnvSigningKey + " is set, so bridle reads its signing keys from the PEM you supply, " +
	"not from the state dir, and this command cannot change it where you keep it. Rotate that PEM:\n" +
	"  1. bridle signing-key rotate --out ring.pem   # in a shell where $" + tokens.EnvSigningKey + " holds the current ring\n" +
	"  2. store the content of ring.pem as " + tokens.EnvSigningKey + " for every replica (your secret manager)\n" +
	"  3. restart every replica within --grace (default 5m), then delete ring.pem"

func rotateSuppliedRing(w io.Writer, ring, out string, now time.Time, grace time.Duration) error {
	k, err := tokens.FromPEM([]byte(ring))
	if err != nil {
		return fmt.Errorf("signing-key rotate: $%s: %w", tokens.EnvSigningKey, err)
	}
	summary, err := rotate(k, now, grace)
	if err != nil {
		return err
	}
	if err := k.WriteFile(out); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("signing-key rotate: %s exists: choose another --out or remove it", out)
		}
		return fmt.Errorf("signing-key rotate: %w", err)
	}
	fmt.Fprintf(w, "Wrote the rotated ring to %s (0600; it holds the new private key: keep it secret).\n%s", out, summary)
	fmt.Fprintf(w, "Next: store the content of %s as %s for every replica, restart them all %s, then delete %s.\n",
		out, tokens.EnvSigningKey, within(grace), out)
	return nil
}

func rotateStateRing(w io.Writer, stateDir string, now time.Time, grace time.Duration) error {
	path := filepath.Join(stateDir, tokens.KeyFile)
	k, err := tokens.Load(stateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("signing-key rotate: no signing key at %s: nothing to rotate (bridle up creates one at its first start; is --config right?)", path)
	}
	if err != nil {
		return fmt.Errorf("signing-key rotate: %w", err)
	}
	summary, err := rotate(k, now, grace)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Rotated the signing key in %s.\n%s", path, summary)
	fmt.Fprintf(w, "Next: restart bridle (up or serve) %s. A reload (SIGHUP, POST /api/v1/reload) does not re-read the signing key:\n"+
		"until the restart the running process keeps signing with the old key.\n", within(grace))
	return nil
}

func within(grace time.Duration) string {
	if grace == 0 {
		return "now"
	}
	return "within " + grace.String()
}

// rotate rotates k and says which key signs now, which retired keys still
// verify, and which were dropped. Key ids are public.
func rotate(k *tokens.Keyring, now time.Time, grace time.Duration) (string, error) {
	before := k.KeyID()
	retiredBefore := k.Retired()
	if err := k.RotateWithGrace(now, grace); err != nil {
		return "", fmt.Errorf("signing-key rotate: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "New signing key: kid %s.\n", k.KeyID())
	kept := map[string]bool{}
	for _, r := range k.Retired() {
		kept[r.KID] = true
		what := "retired earlier"
		if r.KID == before {
			what = "the previous key"
		}
		fmt.Fprintf(&b, "Still verifying: kid %s (%s) until %s.\n", r.KID, what, r.ValidUntil.UTC().Format(time.RFC3339))
	}
	var dropped []string
	for _, r := range retiredBefore {
		if !kept[r.KID] {
			dropped = append(dropped, r.KID)
		}
	}
	if len(dropped) > 0 {
		fmt.Fprintf(&b, "Dropped retired key(s) past their Valid-Until: %s.\n", strings.Join(dropped, ", "))
	}
	return b.String(), nil
}
