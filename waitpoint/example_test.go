package waitpoint_test

import (
	"fmt"
	"time"

	"github.com/flowfabric/ffgo/waitpoint"
)

func Example() {
	// The fields of ff:sec:{fp:N}:waitpoint_hmac, as HGETALL returns them.
	ring := waitpoint.ParseKeyring(map[string]string{
		"current_kid":   "k2",
		"secret:k2":     "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"secret:k1":     "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
		"expires_at:k1": "1700000060000", // k1 retired, verifies until this ms
	})
	fmt.Println(ring.Validate())

	b := waitpoint.Binding{
		WaitpointID:  "11111111-1111-1111-1111-111111111111",
		WaitpointKey: "wpk:test",
		CreatedAtMs:  1700000000000,
	}
	tok, err := ring.Sign(b)
	fmt.Println(tok, err)

	now := time.UnixMilli(1700000000000)
	fmt.Println(ring.Verify(tok.String(), b, now))

	other := b
	other.WaitpointID = "22222222-2222-2222-2222-222222222222"
	err = ring.Verify(tok.String(), other, now)
	fmt.Println(waitpoint.ErrorCode(err))

	old := waitpoint.Key{KID: "k1", Secret: []byte{0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
		0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b}}.Sign(b)
	fmt.Println(ring.Verify(old.String(), b, now))
	fmt.Println(waitpoint.ErrorCode(ring.Verify(old.String(), b, now.Add(time.Hour))))
	// Output:
	// <nil>
	// k2:62f98bf08c9e335d409a0484757fd1c8f9804ad8 <nil>
	// <nil>
	// invalid_token
	// <nil>
	// token_expired
}
