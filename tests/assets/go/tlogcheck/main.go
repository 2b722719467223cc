// tlogcheck verifies a mirror of a tiled log with implementations that share no code with the
// gateway: golang.org/x/mod/sumdb/note for the log's signature, crypto/ed25519 over the C2SP
// cosignature/v1 message for witness cosignatures, and golang.org/x/mod/sumdb/tlog for the tiles
// (TileHashReader authenticates every tile against the signed root) and inclusion proofs.
//
// The mirror is a directory: <dir>/checkpoint and <dir>/tile/<L>/<N>[.p/<W>] as c2sp.org/tlog-tiles
// names them. Exit status 0 and "ok ..." when everything verifies, 1 with the reason otherwise.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return 8 }

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		// Go's sumdb path is tile/<H>/<L>/<N>[.p/<W>]; C2SP tlog-tiles leaves out the height (8).
		path := strings.Replace(t.Path(), "tile/8/", "tile/", 1)
		data, err := os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(path)))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (d dirTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

// cosigner parses a cosignature/v1 vkey <name>+<hex id>+base64(0x04 || key).
func cosigner(vkey string) (string, uint32, ed25519.PublicKey) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		fail("bad witness key %q", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		fail("witness key %q is not a cosignature/v1 Ed25519 key", vkey)
	}
	digest := sha256.Sum256(append([]byte(parts[0]+"\n\x04"), raw[1:]...))
	if hex.EncodeToString(digest[:4]) != parts[1] {
		fail("witness key %q: key ID does not match", vkey)
	}
	return parts[0], binary.BigEndian.Uint32(digest[:4]), ed25519.PublicKey(raw[1:])
}

func main() {
	dir := flag.String("dir", "", "the mirror directory")
	logKey := flag.String("log", "", "the log's verifier key")
	witnesses := flag.String("witnesses", "", "comma-separated cosigner verifier keys")
	quorum := flag.Int("quorum", 0, "valid cosignatures required")
	flag.Parse()

	raw, err := os.ReadFile(filepath.Join(*dir, "checkpoint"))
	if err != nil {
		fail("%v", err)
	}
	verifier, err := note.NewVerifier(*logKey)
	if err != nil {
		fail("log key: %v", err)
	}
	n, err := note.Open(raw, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || len(lines) < 4 {
		fail("malformed checkpoint")
	}
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rootBytes) != 32 {
		fail("malformed root hash")
	}
	var root tlog.Hash
	copy(root[:], rootBytes)

	cosigned := 0
	for _, vkey := range strings.Split(*witnesses, ",") {
		if vkey == "" {
			continue
		}
		name, id, public := cosigner(vkey)
		for _, sig := range n.UnverifiedSigs { // note.Open does not know cosignature/v1 keys
			if sig.Name != name || sig.Hash != id {
				continue
			}
			b, err := base64.StdEncoding.DecodeString(sig.Base64)
			if err != nil || len(b) != 4+8+64 {
				fail("cosignature by %s is malformed", name)
			}
			timestamp := binary.BigEndian.Uint64(b[4:12])
			message := fmt.Sprintf("cosignature/v1\ntime %d\n%s", timestamp, n.Text)
			if timestamp == 0 || !ed25519.Verify(public, []byte(message), b[12:]) {
				fail("cosignature by %s does not verify", name)
			}
			cosigned++
			break
		}
	}
	if cosigned < *quorum {
		fail("%d valid cosignatures, quorum %d", cosigned, *quorum)
	}

	reader := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, dirTiles{*dir})
	computed, err := tlog.TreeHash(size, reader)
	if err != nil {
		fail("tiles: %v", err)
	}
	if !bytes.Equal(computed[:], root[:]) {
		fail("the tiles hash to %x, the checkpoint signs %x", computed, root)
	}
	for _, index := range []int64{0, size / 2, size - 1} {
		leaves, err := reader.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
		if err != nil {
			fail("leaf %d: %v", index, err)
		}
		proof, err := tlog.ProveRecord(size, index, reader)
		if err != nil {
			fail("proof of %d: %v", index, err)
		}
		if err := tlog.CheckRecord(proof, size, root, index, leaves[0]); err != nil {
			fail("inclusion of %d: %v", index, err)
		}
	}
	fmt.Printf("ok size %d cosigned %d\n", size, cosigned)
}
