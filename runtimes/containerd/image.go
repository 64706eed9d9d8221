package containerd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/skiff-sh/skiff/runtimes"
)

// resolveImage finds ref in the image store, picks the manifest for this
// node's platform, checks the platform its config names, and unpacks it
// into the snapshotter unless it is there already. It returns the image
// and its config.
func (d *Driver) resolveImage(ctx context.Context, ref string) (client.Image, ocispec.Image, error) {
	rec, err := d.lookupImage(ctx, ref)
	if errors.Is(err, runtimes.ErrImageNotFound) {
		rec, err = d.pull(ctx, ref)
	}
	if err != nil {
		return nil, ocispec.Image{}, err
	}
	img := client.NewImageWithPlatform(d.client, rec, d.match)
	spec, err := d.imageConfig(ctx, img)
	if err != nil {
		return nil, ocispec.Image{}, err
	}
	unpacked, err := img.IsUnpacked(ctx, d.snapshotter)
	if err != nil {
		return nil, ocispec.Image{}, fmt.Errorf("%w: image %s: check its snapshot: %w", runtimes.ErrInvalidImage, ref, err)
	}
	if !unpacked {
		if err := img.Unpack(ctx, d.snapshotter); err != nil {
			return nil, ocispec.Image{}, fmt.Errorf("%w: image %s: unpack into %s: %w",
				runtimes.ErrInvalidImage, ref, d.snapshotter, err)
		}
	}
	return img, spec, nil
}

// lookupImage gets ref's record, trying its normalized form too.
func (d *Driver) lookupImage(ctx context.Context, ref string) (images.Image, error) {
	is := d.client.ImageService()
	rec, err := is.Get(ctx, ref)
	if errdefs.IsNotFound(err) {
		if named, perr := reference.ParseDockerRef(ref); perr == nil && named.String() != ref {
			rec, err = is.Get(ctx, named.String())
		}
	}
	if errdefs.IsNotFound(err) {
		return images.Image{}, fmt.Errorf("%w: %s is not in containerd's image store (namespace %s): "+
			"import it with `skiff image import`", runtimes.ErrImageNotFound, ref, d.ns)
	}
	if err != nil {
		return images.Image{}, fmt.Errorf("look up image %s: %w", ref, err)
	}
	return rec, nil
}

// pull fetches ref from its registry into the image store, for this node's
// platform only, bounded by ctx; resolveImage checks the platform and
// unpacks it afterwards, as for an imported image. Any failure to get it
// (no registry answers, the registry does not know it, the reference is
// not one a registry serves) is runtimes.ErrImageNotFound with the
// registry's error. When ctx ends first the error is ctx's, not
// ErrImageNotFound: the caller gave up.
func (d *Driver) pull(ctx context.Context, ref string) (images.Image, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return images.Image{}, fmt.Errorf("%w: %s is not in containerd's image store (namespace %s) and is not "+
			"a reference to pull: %w; import it with `skiff image import`", runtimes.ErrImageNotFound, ref, d.ns, err)
	}
	began := time.Now()
	img, err := d.client.Pull(ctx, named.String(), client.WithPlatformMatcher(d.match))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return images.Image{}, fmt.Errorf("pull image %s: %w", ref, cerr)
		}
		return images.Image{}, fmt.Errorf("%w: %s is not in containerd's image store (namespace %s) and pulling it "+
			"failed: %w; import it with `skiff image import` or make its registry reachable",
			runtimes.ErrImageNotFound, ref, d.ns, err)
	}
	d.log.Info("pulled image", "image", named.String(), "duration", time.Since(began))
	return img.Metadata(), nil
}

// imageConfig reads the config of img's manifest for this node and checks
// that it is for this node's OS and architecture.
func (d *Driver) imageConfig(ctx context.Context, img client.Image) (ocispec.Image, error) {
	spec, err := img.Spec(ctx)
	if err != nil {
		if errdefs.IsNotFound(err) {
			if ps, perr := images.Platforms(ctx, img.ContentStore(), img.Target()); perr == nil && len(ps) > 0 &&
				!slices.ContainsFunc(ps, d.match.Match) {
				return ocispec.Image{}, fmt.Errorf("%w: image %s has no manifest for this node's platform %s; it has %s",
					runtimes.ErrImagePlatform, img.Name(), platforms.Format(d.platform), formatPlatforms(ps))
			}
		}
		return ocispec.Image{}, fmt.Errorf("%w: image %s: read its config: %w", runtimes.ErrInvalidImage, img.Name(), err)
	}
	if spec.OS == "" && spec.Architecture == "" {
		return spec, nil // an image that does not say; let it try
	}
	if p := spec.Platform; !d.match.Match(p) {
		return ocispec.Image{}, fmt.Errorf("%w: image %s is built for %s; this node runs %s",
			runtimes.ErrImagePlatform, img.Name(), platforms.Format(platforms.Normalize(p)), platforms.Format(d.platform))
	}
	return spec, nil
}

func formatPlatforms(ps []ocispec.Platform) string {
	var s []string
	for _, p := range ps {
		if f := platforms.Format(platforms.Normalize(p)); !slices.Contains(s, f) {
			s = append(s, f)
		}
	}
	return strings.Join(s, ", ")
}

// ImportOption configures ImportArchive.
type ImportOption func(*importOptions)

type importOptions struct {
	name string
}

// WithImageName names the archive's top-level index name in the image
// store, besides the names the archive gives its images; use it for
// archives that name none.
func WithImageName(name string) ImportOption {
	return func(o *importOptions) { o.name = name }
}

// ImportArchive imports an OCI image archive (an OCI layout tar, as
// written by `docker save`, `ctr image export` or buildx's oci output) into
// the driver's namespace and returns the names of the images it created,
// sorted. Images are named by the archive's io.containerd.image.name or
// org.opencontainers.image.ref.name annotations, or by WithImageName.
// Images for this node's platform are unpacked at once, so that the first
// Start does not pay for it; images for other platforms are imported but
// not unpacked (Start refuses them).
//
// A file that is not such an archive, or one that names no image, is an
// error wrapping runtimes.ErrInvalidImage.
func (d *Driver) ImportArchive(ctx context.Context, path string, opts ...ImportOption) ([]string, error) {
	var o importOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := d.enter(); err != nil {
		return nil, fmt.Errorf("import image archive %s: %w", path, err)
	}
	defer d.wg.Done()
	ctx = d.nsCtx(ctx)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("import image archive: %w", err)
	}
	defer f.Close()
	var iopts []client.ImportOpt
	if o.name != "" {
		iopts = append(iopts, client.WithIndexName(o.name))
	}
	imgs, err := d.client.Import(ctx, bufio.NewReaderSize(f, 1<<20), iopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: import image archive %s: %w", runtimes.ErrInvalidImage, path, err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("%w: image archive %s names no image (no org.opencontainers.image.ref.name "+
			"annotation in its index.json); give it a name", runtimes.ErrInvalidImage, path)
	}
	var names []string
	for _, rec := range imgs {
		if slices.Contains(names, rec.Name) {
			continue
		}
		names = append(names, rec.Name)
		// Import returns one record per name it wrote, in order; when
		// WithImageName repeats a name the archive gives, the later write
		// won, and the earlier record's target may be gone already.
		cur, err := d.client.ImageService().Get(ctx, rec.Name)
		if err != nil {
			return nil, fmt.Errorf("image archive %s: read back %s: %w", path, rec.Name, err)
		}
		img := client.NewImageWithPlatform(d.client, cur, d.match)
		if _, err := d.imageConfig(ctx, img); err != nil {
			d.log.Info("imported an image this node cannot run; not unpacking it", "image", rec.Name, "err", err)
			continue
		}
		if err := img.Unpack(ctx, d.snapshotter); err != nil {
			return nil, fmt.Errorf("%w: image archive %s: unpack %s into %s: %w",
				runtimes.ErrInvalidImage, path, rec.Name, d.snapshotter, err)
		}
	}
	slices.Sort(names)
	d.log.Info("imported image archive", "path", path, "images", names)
	return names, nil
}
