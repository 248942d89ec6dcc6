package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bridle-gw/bridle/internal/config"
	"github.com/bridle-gw/bridle/internal/vault"
)

// envNewEncryptionKey names the variable holding the key `vault rekey`
// re-encrypts to. Keys come from the environment only, never from argv.
const envNewEncryptionKey = "BRIDLE_NEW_ENCRYPTION_KEY"

func newVaultRekeyCmd() *cobra.Command {
	var noBackup bool
	cmd := &cobra.Command{
		Use:   "rekey",
		Short: "Re-encrypt every enc: secret of the config from " + envEncryptionKey + " to " + envNewEncryptionKey,
		Long: "Decrypts every enc: value under secrets: with the key in " + envEncryptionKey + ",\n" +
			"encrypts it again with the key in " + envNewEncryptionKey + " and rewrites the config\n" +
			"file in place, changing nothing but those values. Nothing is written unless\n" +
			"every value decrypts and the new file loads with the new key. The previous\n" +
			"file is kept as FILE.bak (0600) unless --no-backup. ${env:NAME} secrets are\n" +
			"left as they are. Keys are read from the environment, never from arguments.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("vault rekey: takes no arguments; the keys are read from %s and %s", envEncryptionKey, envNewEncryptionKey)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			oldKey, err := vault.ParseKey(os.Getenv(envEncryptionKey))
			if err != nil {
				return fmt.Errorf("vault rekey: %s (the current key): %w", envEncryptionKey, err)
			}
			newKey, err := vault.ParseKey(os.Getenv(envNewEncryptionKey))
			if err != nil {
				return fmt.Errorf("vault rekey: %s: %w (create one with `bridle vault keygen`)", envNewEncryptionKey, err)
			}
			path := configPath(cmd)
			v, err := newRekeyVerifier(path, newKey)
			if err != nil {
				return fmt.Errorf("vault rekey: %w", err)
			}
			res, err := vault.RekeyFile(path, oldKey, newKey, vault.RekeyOptions{NoBackup: noBackup, Verify: v.verify})
			if err != nil {
				return err
			}
			printRekeySummary(cmd, path, res, noBackup, v.known)
			return nil
		},
	}
	cmd.Flags().BoolVar(&noBackup, "no-backup", false, "do not keep the previous file as FILE"+vault.BackupSuffix)
	return cmd
}

func printRekeySummary(cmd *cobra.Command, path string, res vault.RekeyResult, noBackup bool, known map[string]bool) {
	out := cmd.OutOrStdout()
	if len(res.Reencrypted) == 0 {
		fmt.Fprintf(out, "%s has no enc: secret: nothing to re-encrypt, file left unchanged.\n", path)
		return
	}
	fmt.Fprintf(out, "Re-encrypted %d secret(s) in %s with the new key: %s\n", len(res.Reencrypted), path, strings.Join(res.Reencrypted, ", "))
	if len(res.Unchanged) > 0 {
		fmt.Fprintf(out, "Not encrypted, left unchanged: %s\n", strings.Join(res.Unchanged, ", "))
	}
	if !noBackup {
		fmt.Fprintf(out, "The previous file is in %s (0600; its values need the old key). Delete it once every replica runs on the new key.\n", path+vault.BackupSuffix)
	}
	if len(known) > 0 {
		fmt.Fprintf(out, "Note: the config has %d problem(s) unrelated to its enc: values, as before the re-key (an ${env:} variable unset in this shell?): see `bridle validate`.\n", len(known))
	}
	fmt.Fprintf(out, "Next: set %s to the new key (the value of %s) on every replica, then restart them.\n"+
		"A running bridle keeps the key it started with: it refuses to reload this file and serves the previous config until restarted.\n",
		envEncryptionKey, envNewEncryptionKey)
}

// rekeyVerifier loads the re-keyed file with the config loader and the new
// key before it replaces the original.
type rekeyVerifier struct {
	abs    string
	newKey vault.Key
	// known holds the loader's errors for the file before the re-key, such
	// as an ${env:NAME} this shell lacks: only new errors refuse the result.
	known map[string]bool
}

func newRekeyVerifier(path string, newKey vault.Key) (*rekeyVerifier, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config path %s: %w", path, err)
	}
	cfg, err := config.LoadEnv(abs, os.LookupEnv)
	if cfg == nil {
		return nil, err // unreadable, or not YAML
	}
	v := &rekeyVerifier{abs: abs, newKey: newKey, known: map[string]bool{}}
	for _, e := range flatten(err) {
		if e != nil {
			v.known[e.Error()] = true
		}
	}
	return v, nil
}

// verify parses the file at newPath as if it were the config and decrypts
// its enc: secrets with the new key, as the gateway's loader will.
func (v *rekeyVerifier) verify(newPath string) error {
	data, err := os.ReadFile(newPath)
	if err != nil {
		return err
	}
	cfg, err := config.Parse(v.abs, data, os.LookupEnv)
	if cfg == nil {
		return err
	}
	var errs []error
	for _, e := range flatten(err) {
		if e != nil && !v.known[e.Error()] {
			errs = append(errs, e)
		}
	}
	sealed := map[string]string{}
	for name, s := range cfg.Secrets {
		if s.Encrypted {
			sealed[name] = s.Value
		}
	}
	if _, err := vault.DecryptAll(v.newKey, sealed); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
