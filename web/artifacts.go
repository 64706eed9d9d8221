package web

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
)

// uploadArtifact stores a Wasm module sent as the request body and answers
// 201 with its digest and the image reference pods use to run it. A body
// that does not start with the Wasm header is refused before anything is
// stored.
func (s *Server) uploadArtifact(c echo.Context) error {
	if err := noDryRun(c); err != nil {
		return err
	}
	switch mt := mediaType(c); mt {
	case "application/wasm", "application/octet-stream":
	default:
		return unsupportedMediaType("Content-Type %q is not supported: send a Wasm module as application/wasm", mt)
	}
	if s.artifacts == nil {
		return serviceUnavailable("this server cannot store artifacts (no artifact store is configured)")
	}
	body := bufio.NewReader(c.Request().Body)
	head, err := body.Peek(8)
	if err != nil && !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return badRequest("read the request body: %v", err)
	}
	if !api.IsWasmBinary(head) {
		return fmt.Errorf("the body is not a Wasm module (no \\0asm version 1 header): %w", api.ErrInvalidArtifact)
	}
	digest, size, err := s.artifacts.PutArtifact(c.Request().Context(), body)
	if err != nil {
		return fmt.Errorf("store artifact: %w", err)
	}
	s.log.Info("artifact stored", "digest", digest, "size", size)
	return c.JSON(http.StatusCreated, api.Artifact{Digest: digest, Image: api.ArtifactRef(digest), Size: size})
}
