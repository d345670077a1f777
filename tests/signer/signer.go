// imagegate-test-signer: an independent cosign signer for the trust tests (docs/trust.md).
//
// It is built from Debian's packaged sigstore library (golang-github-sigstore-sigstore-dev,
// bookworm-backports) and Google's go-containerregistry (the library cosign itself writes
// signatures with), never from imagegate's code: the payload is sigstore's payload.Cosign, the
// signature sigstore's Signer, and the upload go-containerregistry's remote.Write of the image
// cosign writes, REPO:sha256-HEX.sig, one layer per signature with the
// dev.cosignproject.cosign/signature annotation.
//
//	imagegate-test-signer -key KEY.pem -image HOST/REPO@sha256:HEX [options]
//
// Options that make bad signatures on purpose, for the tests that try to get past imagegate:
//
//	-payload-digest D   sign a payload naming digest D instead of the image's
//	-identity REPO      sign a payload naming another repository
//	-extra              add a field to the payload's critical section
//	-corrupt            upload a signature that does not verify (one byte flipped)
//	-append             keep the signatures already there (cosign's default)
//	-copies N           repeat the signature layer N times (a huge signature manifest)
//	-insecure           plain HTTP to the registry
package main

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

const (
	simpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	signatureAnnotation    = "dev.cosignproject.cosign/signature"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "imagegate-test-signer: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	keyPath := flag.String("key", "", "PEM private key (PKCS#8: ECDSA P-256, Ed25519 or RSA)")
	image := flag.String("image", "", "HOST/REPO@sha256:HEX to sign")
	payloadDigest := flag.String("payload-digest", "", "digest the payload names (default: the image's)")
	identity := flag.String("identity", "", "repository the payload names (default: the image's)")
	extra := flag.Bool("extra", false, "add a field to the payload's critical section")
	corrupt := flag.Bool("corrupt", false, "flip a byte of the signature")
	appendSigs := flag.Bool("append", false, "keep the signatures already in the .sig image")
	copies := flag.Int("copies", 1, "signature layers to write")
	insecure := flag.Bool("insecure", false, "plain HTTP to the registry")
	flag.Parse()
	if *keyPath == "" || *image == "" {
		fail("usage: -key KEY.pem -image HOST/REPO@sha256:HEX")
	}
	var nameOpts []name.Option
	if *insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	digestRef, err := name.NewDigest(*image, nameOpts...)
	if err != nil {
		fail("%s: %v", *image, err)
	}
	signedRef := digestRef
	if *payloadDigest != "" || *identity != "" {
		repo := digestRef.Context().Name()
		if *identity != "" {
			repo = *identity
		}
		d := digestRef.DigestStr()
		if *payloadDigest != "" {
			d = *payloadDigest
		}
		if signedRef, err = name.NewDigest(repo+"@"+d, nameOpts...); err != nil {
			fail("payload reference: %v", err)
		}
	}
	body, err := json.Marshal(payload.Cosign{Image: signedRef})
	if err != nil {
		fail("payload: %v", err)
	}
	if *extra {
		var doc map[string]map[string]interface{}
		if err := json.Unmarshal(body, &doc); err != nil {
			fail("payload: %v", err)
		}
		doc["critical"]["also"] = "an extra field"
		if body, err = json.Marshal(doc); err != nil {
			fail("payload: %v", err)
		}
	}
	signer, err := signature.LoadSignerFromPEMFile(*keyPath, crypto.SHA256, nil)
	if err != nil {
		fail("%s: %v", *keyPath, err)
	}
	sig, err := signer.SignMessage(strings.NewReader(string(body)))
	if err != nil {
		fail("sign: %v", err)
	}
	if *corrupt {
		sig[len(sig)/2] ^= 0x01
	}
	b64 := base64.StdEncoding.EncodeToString(sig)

	hex := strings.TrimPrefix(digestRef.DigestStr(), "sha256:")
	sigTag := digestRef.Context().Tag("sha256-" + hex + ".sig")
	var base v1.Image = empty.Image
	if *appendSigs {
		if old, err := remote.Image(sigTag); err == nil {
			base = old
		}
	}
	base = mutate.MediaType(base, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	layer := static.NewLayer(body, simpleSigningMediaType)
	img := base
	for i := 0; i < *copies; i++ {
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:       layer,
			Annotations: map[string]string{signatureAnnotation: b64},
		})
		if err != nil {
			fail("signature image: %v", err)
		}
	}
	if err := remote.Write(sigTag, img); err != nil {
		fail("upload %s: %v", sigTag, err)
	}
	fmt.Println(sigTag.String())
}
