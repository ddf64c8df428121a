package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
)

// repeated collects a flag given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// thumbprintOf: SHA-256 of the DER certificate, upper-case hex pairs joined
// by ':' (the spelling hyperctl's trust store and vSphere use).
func thumbprintOf(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// selfSigned makes a fresh RSA key and a self-signed certificate for
// 127.0.0.1 and localhost, so that every run has its own thumbprint.
func selfSigned() (tls.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "127.0.0.1", Organization: []string{"hyperctl test bed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// writeAtomically writes data to a temporary file next to path, then renames it.
func writeAtomically(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ready-*")
	if err != nil {
		return err
	}
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	mode := fs.String("mode", "vpx", "vpx (a vCenter) or esx (a standalone ESXi host)")
	vms := fs.Int("vms", 2, "VMs per resource pool: per standalone host and per cluster (vpx), in all (esx)")
	hosts := fs.Int("hosts", 1, "vpx: standalone hosts per datacenter")
	clusters := fs.Int("clusters", 1, "vpx: clusters per datacenter")
	clusterHosts := fs.Int("cluster-hosts", 3, "vpx: hosts per cluster")
	datacenters := fs.Int("datacenters", 1, "vpx: datacenters")
	datastores := fs.Int("datastores", 1, "datastores (each a temporary folder under $TMPDIR), mounted on every host")
	portgroups := fs.Int("portgroups", 1, "vpx: distributed port groups per datacenter")
	folders := fs.Int("folders", 0, "vpx: put each datacenter (and its host, vm, network and datastore folders' content) in a folder F<n>")
	autostart := fs.Bool("autostart", true, "power the created VMs on")
	useTLS := fs.Bool("tls", true, "HTTPS with a fresh self-signed certificate (false: plain HTTP)")
	user := fs.String("user", "hyper", "the one user name accepted")
	password := fs.String("password", "", "its password (default: $HYPERCTL_VCSIM_PASSWORD, which keeps it out of ps)")
	idle := fs.Duration("idle-timeout", 0, "sessions idle this long expire (0: never)")
	connIdle := fs.Duration("conn-idle-timeout", 0, "kept-alive connections idle this long are closed (0: never)")
	var inject repeated
	fs.Var(&inject, "inject", "METHOD=MODE[*N]: answer METHOD wrongly (modes: "+strings.Join(injectModes, ", ")+
		"; delay:DURATION waits first); *N: the next N calls only (repeatable)")
	ready := fs.String("ready", "", "when listening, write the JSON line describing the endpoint to this file (atomically)")
	control := fs.Bool("stdin", false, "read control commands on stdin, answer each with one line on stdout, "+
		"and exit when stdin closes (commands: ping, inject METHOD=MODE[*N], clear, stats, reset-stats, expire-sessions, "+
		"host NAME maintenance on|off, host NAME cpu-vendor VENDOR, host NAME drop-network NET, host NAME drop-datastore DS)")
	fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *password == "" {
		*password = os.Getenv("HYPERCTL_VCSIM_PASSWORD")
	}
	if *user == "" || *password == "" {
		return errors.New("a user and a password are needed (-user, -password or $HYPERCTL_VCSIM_PASSWORD)")
	}

	var m *simulator.Model
	switch *mode {
	case "vpx":
		m = simulator.VPX()
		m.Host = *hosts
		m.Cluster = *clusters
		m.ClusterHost = *clusterHosts
		m.Datacenter = *datacenters
		m.Portgroup = *portgroups
		m.Folder = *folders
	case "esx":
		m = simulator.ESX()
	default:
		return fmt.Errorf("-mode: %q is neither vpx nor esx", *mode)
	}
	m.Machine = *vms
	m.Datastore = *datastores
	m.Autostart = *autostart
	simulator.SessionIdleTimeout = *idle

	rules := newInjector()
	for _, spec := range inject {
		if err := rules.add(spec); err != nil {
			return fmt.Errorf("-inject %s: %v", spec, err)
		}
	}

	freshInstanceUuid(m)
	if err := m.Create(); err != nil {
		return fmt.Errorf("creating the inventory: %v", err)
	}
	defer m.Remove()
	count := m.Count()

	// The simulator's own server sets up the handlers (ServeMux) and the
	// session manager; it is closed at once and our listener serves the same
	// handlers behind the fault injector, with our certificate.
	m.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword(*user, *password)}
	inner := m.Service.NewServer()
	inner.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	scheme, thumbprint := "http", ""
	if *useTLS {
		cert, err := selfSigned()
		if err != nil {
			return fmt.Errorf("certificate: %v", err)
		}
		thumbprint = thumbprintOf(cert.Certificate[0])
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert},
			NextProtos: []string{"http/1.1"}})
		scheme = "https"
	}
	hostPort := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	m.Service.Listen.Scheme = scheme
	m.Service.Listen.Host = hostPort
	simulator.Map.SessionManager().ServiceHostName = hostPort

	server := &http.Server{Handler: rules.wrap(m.Service.ServeMux), ErrorLog: nil, IdleTimeout: *connIdle}
	served := make(chan error, 1)
	go func() { served <- server.Serve(ln) }()

	sdk := scheme + "://" + hostPort + "/sdk"
	info := map[string]interface{}{
		"url":         sdk,
		"host":        "127.0.0.1",
		"port":        port,
		"thumbprint":  thumbprint,
		"pid":         os.Getpid(),
		"mode":        *mode,
		"user":        *user,
		"vms":         count.Machine,
		"hosts":       count.Host + count.ClusterHost,
		"clusters":    count.Cluster,
		"datastores":  count.Datastore,
		"datacenters": count.Datacenter,
	}
	line, _ := json.Marshal(info)
	line = append(line, '\n')
	if *ready != "" {
		if err := writeAtomically(*ready, line); err != nil {
			return fmt.Errorf("-ready: %v", err)
		}
	}
	os.Stdout.Write(line)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	eof := make(chan struct{})
	if *control {
		go commands(os.Stdin, os.Stdout, rules, sdk, *user, *password, thumbprint, eof)
	}
	select {
	case <-signals:
	case <-eof:
	case err := <-served:
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	server.Shutdown(ctx)
	return nil
}

// commands answers each control line with exactly one line; closes eof at
// the end of the input.
func commands(in io.Reader, out io.Writer, rules *injector, sdk, user, password, thumbprint string,
	eof chan struct{}) {
	defer close(eof)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		reply := "ok"
		switch {
		case fields[0] == "host":
			reply = hostCommand(fields)
		case fields[0] == "ping" && len(fields) == 1:
		case fields[0] == "inject" && len(fields) == 2:
			if err := rules.add(fields[1]); err != nil {
				reply = "error: " + err.Error()
			}
		case fields[0] == "clear" && len(fields) == 1:
			rules.clear()
		case fields[0] == "stats" && len(fields) == 1:
			b, _ := json.Marshal(rules.stats())
			reply = string(b)
		case fields[0] == "reset-stats" && len(fields) == 1:
			rules.resetStats()
		case fields[0] == "expire-sessions" && len(fields) == 1:
			if n, err := expireSessions(sdk, user, password, thumbprint); err != nil {
				reply = "error: " + err.Error()
			} else {
				reply = fmt.Sprintf("ok %d", n)
			}
		default:
			reply = "error: unknown command " + fmt.Sprintf("%q", sc.Text())
		}
		fmt.Fprintln(out, reply)
	}
}
