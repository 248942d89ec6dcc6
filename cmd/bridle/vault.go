package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bridle-gw/bridle/internal/vault"
)

// envEncryptionKey names the environment variable holding the vault key.
const envEncryptionKey = "BRIDLE_ENCRYPTION_KEY"

// maxSecretBytes bounds what `vault encrypt` reads from stdin: credentials
// are short, and an unbounded read of a mistaken pipe would only waste memory.
const maxSecretBytes = 64 << 10

// newVaultCmd builds `bridle vault keygen|encrypt|rekey`.
func newVaultCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vault",
		Short: "Create encryption keys and encrypted secrets for bridle.yaml, and re-key them",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newVaultKeygenCmd(), newVaultEncryptCmd(), newVaultRekeyCmd())
	return cmd
}

func newVaultKeygenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keygen",
		Short: "Print a new random key for " + envEncryptionKey,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := vault.GenerateKey()
			if err != nil {
				return fmt.Errorf("vault keygen: %w", err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), key)
			return err
		},
	}
}

func newVaultEncryptCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "encrypt",
		Short: "Encrypt a secret read from stdin with the key in " + envEncryptionKey,
		Long: "Reads the secret from stdin (one trailing newline is dropped) and prints\n" +
			"an enc:... value for the secrets: section of bridle.yaml. The secret is\n" +
			"never taken from the command line, where shell history and ps would see it.",
		// Refusing arguments keeps secrets out of argv (ps, shell history).
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return errors.New("vault encrypt: the secret is read from stdin, never from arguments")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := vault.ParseKey(os.Getenv(envEncryptionKey))
			if err != nil {
				return fmt.Errorf("vault encrypt: %s: %w (create one with `bridle vault keygen`)", envEncryptionKey, err)
			}
			secret, err := readSecret(cmd)
			if err != nil {
				return fmt.Errorf("vault encrypt: %w", err)
			}
			enc, err := vault.Encrypt(key, secret)
			clear(secret)
			if err != nil {
				return fmt.Errorf("vault encrypt: %w", err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), enc)
			return err
		},
	}
}

// readSecret reads the secret from the command's stdin. On a terminal it
// prompts on stderr and turns echo off, so the secret does not stay on screen.
func readSecret(cmd *cobra.Command) ([]byte, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "Secret: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return nil, fmt.Errorf("reading secret: %w", err)
		}
		return checkSecret(b)
	}
	b, err := io.ReadAll(io.LimitReader(in, maxSecretBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading secret from stdin: %w", err)
	}
	if len(b) > maxSecretBytes {
		return nil, fmt.Errorf("secret on stdin is longer than %d bytes", maxSecretBytes)
	}
	// `echo token | bridle vault encrypt` adds a newline nobody means to keep.
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	return checkSecret(b)
}

func checkSecret(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, errors.New("empty secret on stdin")
	}
	return b, nil
}
