package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/web/client"
)

func newSecretsEncryptionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets-encryption",
		Short: "Show and rotate the keys that encrypt Secrets at rest (needs an admin token)",
		Long: `The control plane encrypts every Secret with AES-256-GCM before it is stored in
NATS. The keys live in the server's keyring file, DATA-DIR/secrets-encryption.json
(mode 0600, made on first start; see --secrets-encryption-keyring). The first key
encrypts; every key decrypts.

  status  the keys, and how many Secrets are under each (or still unencrypted)
  rotate  add a new key, re-encrypt every Secret with it, remove the old keys

Back up the keyring file with the NATS data: without it, Secrets cannot be read.`,
	}
	cmd.AddCommand(newSecretsEncryptionStatusCmd(), newSecretsEncryptionRotateCmd())
	return cmd
}

func newSecretsEncryptionStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "List the keyring's keys and how many Secrets each encrypts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			st, err := c.SecretsEncryptionStatus(cmd.Context())
			if err != nil {
				return secretsEncryptionCommandError(err)
			}
			return printSecretsEncryptionStatus(cmd, st)
		},
	}
}

func printSecretsEncryptionStatus(cmd *cobra.Command, st api.SecretsEncryptionStatus) error {
	out := cmd.OutOrStdout()
	if st.Provider == "" {
		fmt.Fprintf(out, "Secrets are stored unencrypted (%d Secrets)\n", st.Total)
		return nil
	}
	fmt.Fprintf(out, "provider: %s, %d Secrets\n", st.Provider, st.Total)
	w := newTable(out)
	fmt.Fprintln(w, "KEY\tUSE\tSECRETS\tAGE")
	now := time.Now()
	for _, k := range st.Keys {
		use := "decrypt"
		if k.Write {
			use = "encrypt, decrypt"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", k.ID, use, k.Secrets, age(k.Created, now))
	}
	if st.Plaintext > 0 {
		fmt.Fprintf(w, "(unencrypted)\t-\t%d\t-\n", st.Plaintext)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if st.Plaintext > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "%d Secrets were stored before encryption was on; 'skiff secrets-encryption rotate' encrypts them\n", st.Plaintext)
	}
	if st.UnknownKey > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "%d Secrets are under a key the keyring does not hold: the server cannot read them until that key is restored into its keyring file\n", st.UnknownKey)
	}
	return nil
}

func newSecretsEncryptionRotateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Add a new key, re-encrypt every Secret with it and remove the old keys",
		Long: `rotate makes the server add a new key to its keyring as the write key,
re-encrypt every stored Secret with it (unencrypted ones included), and then remove
the old keys from the keyring file. A rotation cut short leaves the old keys in the
file; run it again.

With several control-plane replicas, each reads its own keyring file: stop the other
replicas, rotate, copy this replica's keyring file to the others, then start them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			rot, err := c.RotateSecretsEncryptionKey(cmd.Context())
			if err != nil {
				return secretsEncryptionCommandError(err)
			}
			removed := "none"
			if len(rot.RemovedKeys) > 0 {
				removed = strings.Join(rot.RemovedKeys, ", ")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "new key %s; %d Secrets re-encrypted; removed keys: %s\n", rot.NewKey, rot.Reencrypted, removed)
			return printSecretsEncryptionStatus(cmd, rot.Status)
		},
	}
}

// secretsEncryptionCommandError adds what to do to a refusal.
func secretsEncryptionCommandError(err error) error {
	switch {
	case client.IsUnauthorized(err):
		return fmt.Errorf("%w (set $%s, or the token in %s)", err, client.EnvToken, client.DefaultConfigPath())
	case client.IsForbidden(err):
		return fmt.Errorf("%w (secrets encryption takes an admin token of all namespaces)", err)
	}
	return err
}
