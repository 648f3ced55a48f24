package registry

// blob.go fetches and uploads blobs. A blob is named by the sha256 of its
// bytes, so what comes over the network is hashed as it streams and
// checked before it is used: a layer is downloaded into a .partial file,
// renamed to its digest only when whole and verified, and only then
// extracted into the store. A download that breaks off is resumed with a
// Range request next time, from the bytes already there.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"

	"box/final/internal/image"
	"box/final/internal/narrate"
	"box/final/internal/sys"
)

// maxConfig bounds what is read of an image config: real ones are kB.
const maxConfig = 16 << 20

// FetchBlob fetches a small blob (a config) into memory and checks it
// against its digest before returning it.
func (c *Client) FetchBlob(ctx context.Context, d Descriptor, what string) ([]byte, error) {
	if !image.ValidDigest(d.Digest) {
		return nil, fmt.Errorf("%s: digest %q is not sha256:<64 hex digits>", what, d.Digest)
	}
	if d.Size > maxConfig {
		return nil, fmt.Errorf("%s: %d bytes is too big for a config; refused", what, d.Size)
	}
	r := request{method: http.MethodGet, url: c.url("blobs/" + d.Digest)}
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		c.narrateAnswer(r, resp, "")
		return nil, c.apiError(resp, what)
	}
	defer drain(resp)
	c.narrateAnswer(r, resp, image.Plural(int(resp.ContentLength), "byte"))
	data, err := io.ReadAll(io.LimitReader(resp.Body, d.Size+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, c.netError(err))
	}
	sum := sha256.Sum256(data)
	got := "sha256:" + hex.EncodeToString(sum[:])
	if got != d.Digest {
		return nil, fmt.Errorf("%s: its content has digest %s, but the manifest says %s; the registry or something on the way altered it, nothing was stored", what, got, d.Digest)
	}
	narrate.Line(fmt.Sprintf("sha256(%s) = %s matches the manifest", what, got))
	return data, nil
}

// DownloadBlob downloads the blob d into the file path, verified: the
// bytes go to path.partial while they are hashed, and path exists only
// once they match d's digest. A path.partial left by an interrupted pull
// is resumed. what names the blob in messages; p shows progress.
func (c *Client) DownloadBlob(ctx context.Context, d Descriptor, path, what string, p Progress) (err error) {
	id := image.ShortDigest(d.Digest)
	if _, err := os.Stat(path); err == nil {
		narrate.Explain(narrate.Layers, "%s was downloaded and verified by an earlier pull: %s.", what, path)
		p.Done(id, "already downloaded")
		return nil
	}
	partial := path + ".partial"
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	// Another pull of the same layer waits here, then finds it done.
	if err := sys.Lock(f, true, false); err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		// The partial name is ours alone now, made after the other pull
		// renamed its file: remove it.
		_ = removeIfExists(partial)
		p.Done(id, "downloaded by another pull")
		return nil
	}
	// Hash what an earlier pull left, and go on from its end.
	h := sha256.New()
	have, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("%s: read %s: %w", what, partial, err)
	}
	if have > d.Size {
		if err := restart(f, &h); err != nil {
			return err
		}
		have = 0
	}
	r := request{method: http.MethodGet, url: c.url("blobs/" + d.Digest), headers: map[string]string{}}
	if have > 0 {
		r.headers["Range"] = fmt.Sprintf("bytes=%d-", have)
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer drain(resp)
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		c.narrateAnswer(r, resp, fmt.Sprintf("resume at byte %d of %d", have, d.Size))
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have == d.Size:
		c.narrateAnswer(r, resp, "nothing left to fetch")
	case resp.StatusCode == http.StatusOK:
		c.narrateAnswer(r, resp, image.HumanSize(d.Size))
		if have > 0 { // the registry ignored Range: start again
			if err := restart(f, &h); err != nil {
				return err
			}
			have = 0
		}
	default:
		c.narrateAnswer(r, resp, "")
		return c.apiError(resp, what)
	}
	p.Start(id, d.Size, have)
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		// One byte more than the rest is asked for, to notice a blob
		// longer than the manifest says.
		n, err := io.Copy(io.MultiWriter(f, h, progressWriter{p, id}), io.LimitReader(resp.Body, d.Size-have+1))
		have += n
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s: the download broke off after %d of %d bytes (%v); pull again to resume from there", what, have, d.Size, c.netError(err))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if have < d.Size {
		return fmt.Errorf("%s: the download ended after %d of %d bytes; pull again to resume from there", what, have, d.Size)
	}
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if have > d.Size || got != d.Digest {
		os.Remove(partial)
		if have > d.Size {
			return corruptError{fmt.Errorf("%s: the registry sent more than the %d bytes the manifest says; nothing was stored", what, d.Size)}
		}
		return corruptError{fmt.Errorf("%s: its content has digest %s, but the manifest says %s; the registry or something on the way altered it, nothing was stored", what, got, d.Digest)}
	}
	narrate.Line(fmt.Sprintf("sha256(blob) = %s matches the manifest", got))
	if err := os.Rename(partial, path); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	p.Done(id, "downloaded "+image.HumanSize(d.Size))
	return nil
}

// corruptError is a blob that does not match its digest: what the pull
// downloaded is thrown away, not kept for a resume.
type corruptError struct{ error }

func (e corruptError) Unwrap() error { return e.error }

// restart empties a partial download and its hash.
func restart(f *os.File, h *hash.Hash) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("truncate %s: %w", f.Name(), err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s: %w", f.Name(), err)
	}
	*h = sha256.New()
	return nil
}

// HasBlob asks whether the repository has the blob already (HEAD).
func (c *Client) HasBlob(ctx context.Context, digest string) (bool, error) {
	r := request{method: http.MethodHead, url: c.url("blobs/" + digest), push: true}
	resp, err := c.do(ctx, r)
	if err != nil {
		return false, err
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusOK:
		c.narrateAnswer(r, resp, "the registry has it: not uploaded again")
		return true, nil
	case http.StatusNotFound:
		c.narrateAnswer(r, resp, "not there yet")
		return false, nil
	}
	c.narrateAnswer(r, resp, "")
	return false, c.apiError(resp, "push "+c.ref.Familiar())
}

// UploadBlob uploads a blob in one piece: POST opens an upload, PUT with
// the digest closes it, and the registry checks the digest itself.
func (c *Client) UploadBlob(ctx context.Context, digest string, size int64, open func() (io.ReadCloser, error)) error {
	what := "push " + c.ref.Familiar()
	r := request{method: http.MethodPost, url: c.url("blobs/uploads/"), push: true, headers: map[string]string{}}
	resp, err := c.do(ctx, r)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if resp.StatusCode != http.StatusAccepted {
		c.narrateAnswer(r, resp, "")
		return c.apiError(resp, what)
	}
	drain(resp)
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return fmt.Errorf("%s: the registry opened an upload without a usable Location", what)
	}
	c.narrateAnswer(r, resp, "upload opened at "+loc.Path)
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	body, err := open()
	if err != nil {
		return err
	}
	defer body.Close()
	put := request{method: http.MethodPut, url: loc.String(), push: true, length: size,
		headers: map[string]string{"Content-Type": "application/octet-stream", "Content-Length": strconv.FormatInt(size, 10)},
		body:    func() io.Reader { return body }}
	resp, err = c.do(ctx, put)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if resp.StatusCode != http.StatusCreated {
		c.narrateAnswer(put, resp, "")
		return c.apiError(resp, what)
	}
	drain(resp)
	c.narrateAnswer(put, resp, "stored as "+image.ShortDigest(digest))
	return nil
}

// PutManifest uploads a manifest under a tag.
func (c *Client) PutManifest(ctx context.Context, tag, mediaType string, data []byte) error {
	what := "push " + c.ref.Familiar()
	r := request{method: http.MethodPut, url: c.url("manifests/" + url.PathEscape(tag)), push: true, length: int64(len(data)),
		headers: map[string]string{"Content-Type": mediaType},
		body:    func() io.Reader { return bytes.NewReader(data) }}
	resp, err := c.do(ctx, r)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if resp.StatusCode != http.StatusCreated {
		c.narrateAnswer(r, resp, "")
		return c.apiError(resp, what)
	}
	drain(resp)
	c.narrateAnswer(r, resp, "tagged "+tag)
	return nil
}

// removeIfExists removes a file, ignoring that it is not there.
func removeIfExists(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
