package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/testbed/containerdtest"
)

func TestImageImportPrintsTheImportedNames(t *testing.T) {
	d := containerdtest.Start(t)
	archive, ref := containerdtest.ProbeImageArchive(t, runtime.GOARCH)
	out, _, err := runCLI(t, "", "image", "import", archive, "--name", "skiff.test/renamed:1",
		"--containerd-socket", d.Address, "--containerd-namespace", d.Namespace)
	if err != nil {
		t.Fatalf("skiff image import: %v", err)
	}
	names := strings.Fields(out)
	if len(names) != 2 || !strings.Contains(out, ref) || !strings.Contains(out, "skiff.test/renamed:1") {
		t.Fatalf("printed %q, want the archive's name %s and the given one, one per line", out, ref)
	}
	imgs, err := d.Client(t).ImageService().List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 {
		t.Errorf("%d images in namespace %s, want 2", len(imgs), d.Namespace)
	}
}

func TestImageImportOfABadArchiveIsOneClearLine(t *testing.T) {
	d := containerdtest.Start(t)
	bad := filepath.Join(t.TempDir(), "corrupt.tar")
	if err := os.WriteFile(bad, []byte("this is not a tar archive\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"corrupt archive", []string{bad}, "corrupt.tar is not a usable OCI image archive: unexpected EOF"},
		{"missing file", []string{filepath.Join(t.TempDir(), "nope.tar")}, "no such file"},
		{"directory", []string{t.TempDir()}, "is not a file"},
		{"no daemon", []string{bad, "--containerd-socket", filepath.Join(t.TempDir(), "none.sock")}, "no containerd socket at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"image", "import"}, tt.args...)
			args = append(args, "--containerd-namespace", d.Namespace)
			if !strings.Contains(strings.Join(tt.args, " "), "--containerd-socket") {
				args = append(args, "--containerd-socket", d.Address)
			}
			out, _, err := runCLI(t, "", args...)
			if err == nil {
				t.Fatalf("succeeded, printed %q", out)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q, want one line containing %q", msg, tt.want)
			}
		})
	}
}
