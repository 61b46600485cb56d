// Command goplugin-host loads a Rollgate plugin binary with hashicorp/go-plugin's
// own client, the way a go-plugin host that allows gRPC would: handshake,
// health ping, one call on the plugin's service over the shared connection,
// then Kill, which asks the plugin to shut down through GRPCController and
// waits for it to exit; and a host offering only protocol version 1, which
// the plugin (version 2) must refuse.
//
// Usage: goplugin-host <plugin binary>. Prints "ok: ..." and exits 0 on success.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// routerPlugin hands back the raw gRPC connection; the harness calls the
// plugin's methods by name.
type routerPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (routerPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }

func (routerPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return c, nil
}

// lockedBuffer collects the host's logs; go-plugin writes from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func fail(logs *lockedBuffer, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	fmt.Fprintf(os.Stderr, "--- host log ---\n%s", logs.String())
	os.Exit(1)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: goplugin-host <plugin binary>")
		os.Exit(2)
	}
	logs := &lockedBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Debug, Output: logs})
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  2,
			MagicCookieKey:   "ROLLGATE_PLUGIN",
			MagicCookieValue: "trafficrouter-v1",
		},
		Plugins:          plugin.PluginSet{"trafficrouter": routerPlugin{}},
		Cmd:              exec.Command(os.Args[1]),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           logger,
		StartTimeout:     20 * time.Second,
	})
	defer client.Kill()

	rpcClient, err := client.Client()
	if err != nil {
		fail(logs, "handshake: %v", err)
	}
	if v := client.NegotiatedVersion(); v != 2 {
		fail(logs, "negotiated version %d, want 2", v)
	}
	if err := rpcClient.Ping(); err != nil {
		fail(logs, "health ping: %v", err)
	}
	raw, err := rpcClient.Dispense("trafficrouter")
	if err != nil {
		fail(logs, "dispense: %v", err)
	}
	conn := raw.(*grpc.ClientConn)
	// TypeResponse{string type = 1} has the wire form of a StringValue.
	var name wrapperspb.StringValue
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Invoke(ctx, "/rollgate.trafficrouter.v2.TrafficRouter/Type", &emptypb.Empty{}, &name); err != nil {
		fail(logs, "Type: %v", err)
	}
	if name.GetValue() != "rollgate/journal" {
		fail(logs, "Type answered %q, want rollgate/journal", name.GetValue())
	}

	client.Kill()
	if !client.Exited() {
		fail(logs, "the plugin is still running after Kill")
	}
	out := logs.String()
	if strings.Contains(out, "failed to exit gracefully") {
		fail(logs, "the plugin had to be killed: it did not exit on GRPCController.Shutdown")
	}
	if !strings.Contains(out, "plugin exited") {
		fail(logs, "no graceful exit recorded")
	}
	if !strings.Contains(out, "plugin serving") {
		fail(logs, "the plugin's JSON log lines were not read by the host")
	}

	// A host built for protocol version 1 (one call per aspect) offers only
	// version 1: the plugin, which speaks 2, must refuse it and say why.
	oldLogs := &lockedBuffer{}
	old := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  1,
			MagicCookieKey:   "ROLLGATE_PLUGIN",
			MagicCookieValue: "trafficrouter-v1",
		},
		Plugins:          plugin.PluginSet{"trafficrouter": routerPlugin{}},
		Cmd:              exec.Command(os.Args[1]),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "old-host", Level: hclog.Debug, Output: oldLogs}),
		StartTimeout:     20 * time.Second,
	})
	defer old.Kill()
	_, err = old.Client()
	if err == nil {
		fail(oldLogs, "a host offering only protocol version 1 was served")
	}
	// Kill waits for the plugin's stderr to be read to its end.
	old.Kill()
	if !strings.Contains(oldLogs.String(), "the host offers version(s) 1; this plugin speaks version 2") {
		fail(oldLogs, "the plugin's refusal (%v) did not name both versions", err)
	}
	fmt.Println("ok: handshake, health ping, Type, graceful shutdown through GRPCController; a version 1 host refused")
}
