package bench

import (
	"bytes"
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

func TestHelloModuleRunsUnderWASIAndPrints(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	var out bytes.Buffer
	if _, err := r.InstantiateWithConfig(ctx, HelloModule(), wazero.NewModuleConfig().WithStdout(&out)); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello from skiff\n" {
		t.Fatalf("stdout = %q", out.String())
	}
}
