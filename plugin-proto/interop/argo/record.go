package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"strings"
	"sync"

	goPlugin "github.com/hashicorp/go-plugin"
)

// recordingConn keeps a copy of every byte the host writes to the plugin.
type recordingConn struct {
	net.Conn
	mu      sync.Mutex
	written bytes.Buffer
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.written.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// record starts the plugin as go-plugin does, drives a short Argo-shaped
// session over a connection that records what the host sends (yamux frames
// carrying gob-encoded net/rpc calls), and writes those bytes (up to the
// closing Control.Quit) to out.
func record(binary, out string) int {
	register()
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), "ARGO_ROLLOUTS_RPC_PLUGIN=trafficrouter", "PLUGIN_PROTOCOL_VERSIONS=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: handshake:", err)
		return 1
	}
	parts := strings.Split(strings.TrimSpace(line), "|")
	conn, err := net.Dial(parts[2], parts[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: dial:", err)
		return 1
	}
	rec := &recordingConn{Conn: conn}
	client, err := goPlugin.NewRPCClient(rec, map[string]goPlugin.Plugin{"RpcTrafficRouterPlugin": rpcPlugin{}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: rpc client:", err)
		return 1
	}
	raw, err := client.Dispense("RpcTrafficRouterPlugin")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: dispense:", err)
		return 1
	}
	plugin := raw.(*rpc.Client)
	ro := rolloutWith(`{"httpRoute":"web"}`)
	calls := []struct {
		method string
		args   any
	}{
		{"InitPlugin", nil},
		{"SetWeight", SetWeightAndVerifyWeightArgs{Rollout: ro, DesiredWeight: 30}},
		{"SetHeaderRoute", SetHeaderArgs{Rollout: ro, SetHeaderRoute: SetHeaderRoute{Name: "beta",
			Match: []HeaderRoutingMatch{{HeaderName: "x-beta", HeaderValue: &StringMatch{Exact: "yes"}}}}}},
		{"RemoveManagedRoutes", RemoveManagedRoutesArgs{Rollout: ro}},
	}
	for _, c := range calls {
		args := c.args
		var resp RpcError
		if err := plugin.Call("Plugin."+c.method, &args, &resp); err != nil || resp.ErrorString != "" {
			fmt.Fprintf(os.Stderr, "FAIL: %s: %v %q\n", c.method, err, resp.ErrorString)
			return 1
		}
	}
	// The recording stops before Close: replayed all at once, a Control.Quit
	// could overtake the calls still queued on the broker stream.
	rec.mu.Lock()
	session := append([]byte(nil), rec.written.Bytes()...)
	rec.mu.Unlock()
	_ = client.Close()
	_ = cmd.Wait()
	if err := os.WriteFile(out, session, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	fmt.Printf("ok: recorded %d bytes\n", len(session))
	return 0
}
