package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/containerd"
)

func newImageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage container images on this node (containerd)",
	}
	cmd.AddCommand(newImageImportCmd())
	return cmd
}

type imageImportOptions struct {
	name      string
	socket    string
	namespace string
}

func newImageImportCmd() *cobra.Command {
	o := imageImportOptions{socket: config.DefaultContainerdSocket, namespace: config.DefaultContainerdNamespace}
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import an OCI image archive into the agent's containerd",
		Long: `Import an OCI image archive (an OCI layout tar, as written by 'docker save',
'ctr image export' or buildx's oci output) into the containerd namespace the
agent on this host runs containers from, so that pods can use it without a
registry. Run it on the agent's host, as a user that may use containerd's
socket. Images are named by the archive's own annotations; --name adds a name
for archives that carry none. Prints the names of the imported images.`,
		Example: `  skiff image import app.tar
  skiff image import app.tar --name registry.example/app:1.2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImageImport(cmd, args[0], o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.name, "name", "", "name the archive's image REF (for archives that name none)")
	fs.StringVar(&o.socket, "containerd-socket", o.socket, "containerd's socket (the agent's --containerd-socket)")
	fs.StringVar(&o.namespace, "containerd-namespace", o.namespace, "containerd namespace of the agent's images (agent.containerdNamespace)")
	return cmd
}

func runImageImport(cmd *cobra.Command, path string, o imageImportOptions) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("image import: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("image import: %s is not a file", path)
	}
	d, err := containerd.New(containerd.Options{Address: o.socket, Namespace: o.namespace})
	if err != nil {
		return oneLine(fmt.Errorf("image import: %w (is containerd running? the agent's socket is set with --containerd-socket)", err))
	}
	defer d.Close(cmd.Context())
	var opts []containerd.ImportOption
	if o.name != "" {
		opts = append(opts, containerd.WithImageName(o.name))
	}
	refs, err := d.ImportArchive(cmd.Context(), path, opts...)
	if errors.Is(err, runtimes.ErrInvalidImage) {
		// The driver's message repeats what this line says already.
		detail := strings.TrimPrefix(err.Error(), runtimes.ErrInvalidImage.Error()+": ")
		detail = strings.TrimPrefix(detail, "import image archive "+path+": ")
		return oneLine(fmt.Errorf("image import: %s is not a usable OCI image archive: %s", path, detail))
	}
	if err != nil {
		return oneLine(fmt.Errorf("image import: %w", err))
	}
	for _, r := range refs {
		fmt.Fprintln(cmd.OutOrStdout(), r)
	}
	return nil
}

// oneLine keeps an error to one line of the terminal: daemons' errors may
// carry newlines.
func oneLine(err error) error {
	msg := err.Error()
	if !strings.ContainsAny(msg, "\r\n") {
		return err
	}
	return errors.New(strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " "))
}
