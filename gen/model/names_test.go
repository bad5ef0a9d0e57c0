package model

import "testing"

func TestGoName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"execution_id", "ExecutionID"},
		{"lease_ttl_ms", "LeaseTTLMs"},
		{"policy_json", "PolicyJSON"},
		{"worker_capabilities_csv", "WorkerCapabilitiesCSV"},
		{"waitpoint_hmac_kids", "WaitpointHMACKids"},
		{"ids", "IDs"},
		{"exec_core", "ExecCore"},
		{"_x", "X"},
		{"2fa", "X2fa"},
		{"a__b", "AB"},
	} {
		if got := GoName(tc.in); got != tc.want {
			t.Errorf("GoName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := FuncGoName("ff_renew_lease", "ff_"); got != "RenewLease" {
		t.Errorf("FuncGoName = %q", got)
	}
	if got := FuncGoName("ff_", "ff_"); got != "Ff" {
		t.Errorf("FuncGoName of the bare prefix = %q", got)
	}
	if got := ErrName("stale_lease"); got != "ErrStaleLease" {
		t.Errorf("ErrName = %q", got)
	}
	for in, want := range map[string]string{"tag": "Tags", "id": "IDs", "edges": "Edges"} {
		if got := Plural(in); got != want {
			t.Errorf("Plural(%q) = %q, want %q", in, got, want)
		}
	}
}
