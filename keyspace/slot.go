package keyspace

import (
	"errors"
	"fmt"
	"strings"
)

// NumSlots is the number of hash slots of a Valkey cluster.
const NumSlots = 16384

// CRC16 returns the CRC-16/XMODEM checksum of b (polynomial 0x1021, initial
// value 0, no reflection, no final xor). It is the checksum Valkey Cluster
// uses for hash slots and the one FlowFabric uses to map flows and lanes to
// partitions. CRC16([]byte("123456789")) is 0x31C3.
func CRC16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// HashTag returns the part of key that Valkey hashes to choose its slot:
// the text between the first '{' and the first '}' after it, when that text
// is not empty; otherwise the whole key.
func HashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return key
	}
	closing := strings.IndexByte(key[open+1:], '}')
	if closing <= 0 { // no '}' after the '{', or "{}" (empty tag)
		return key
	}
	return key[open+1 : open+1+closing]
}

// HashSlot returns the Valkey Cluster hash slot of key (0..16383), the value
// CLUSTER KEYSLOT reports.
func HashSlot(key string) uint16 {
	return CRC16([]byte(HashTag(key))) % NumSlots
}

// ErrCrossSlot is returned (wrapped) by CheckSameSlot when two keys hash to
// different slots, which a Valkey cluster refuses for one FCALL.
var ErrCrossSlot = errors.New("keyspace: keys in different hash slots")

// CheckSameSlot reports whether every key hashes to the slot of the first
// one. The error wraps ErrCrossSlot and names the first key that differs, its
// position (0-based) and both slots. No keys, or one key, is never an error.
func CheckSameSlot(keys ...string) error {
	if len(keys) < 2 {
		return nil
	}
	want := HashSlot(keys[0])
	for i, k := range keys[1:] {
		if got := HashSlot(k); got != want {
			return fmt.Errorf("%w: key %d %q is in slot %d, key 0 %q is in slot %d",
				ErrCrossSlot, i+1, k, got, keys[0], want)
		}
	}
	return nil
}
