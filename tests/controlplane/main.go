// Command controlplane runs a real Kubernetes control plane for the tests, with no Docker and no
// kubelet: the kube-apiserver of one pinned Kubernetes release backed by an embedded etcd, and the
// kube-controller-manager limited to the controllers the operator's behaviour depends on.
//
// The operator used to be tested against an emulator of the API; this program is the API itself, so
// admission, CEL validation, RBAC, server-side apply, finalizers and garbage collection behave as in
// a cluster. Everything listens on 127.0.0.1 only.
//
// Usage:
//
//	controlplane [--data-dir DIR] [--secure-port N] [--etcd-port N] [-- KUBE-APISERVER-FLAGS...]
//
// The admin kubeconfig is written to DIR/admin.kubeconfig; once the API server answers /readyz the
// program prints one line "controlplane ready kubeconfig=PATH". SIGINT or SIGTERM stops the
// controller manager, the API server and etcd, in that order. Without --data-dir a temporary
// directory is used and removed on exit.
//
// The controller manager runs in a child process of this same binary (argument
// "controller-manager"): the API server and the controller manager each install process-wide
// signal handlers, flags and metrics registries, which would collide inside one process.
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/client-go/util/cert"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

// Controllers the operator's behaviour needs: namespaces that empty themselves on delete, owner
// references honoured, service accounts and their tokens, and Deployments that get ReplicaSets and
// Pods. Nothing schedules or runs the Pods; a test marks them ready itself.
var controllers = []string{
	"namespace-controller",
	"garbage-collector-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"deployment-controller",
	"replicaset-controller",
}

// How long the API server may take to answer /readyz after start; it takes about three seconds on
// two cores, the rest is headroom for a machine loaded by other test runs.
const readyTimeout = 120 * time.Second

func main() {
	if len(os.Args) > 1 && os.Args[1] == "controller-manager" {
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(os.Args[2:])
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "controlplane: %v\n", err)
		os.Exit(1)
	}
}

type layout struct {
	dir string
}

func (l layout) path(name string) string { return filepath.Join(l.dir, name) }

func run() error {
	dataDir := flag.String("data-dir", "", "directory for etcd data, certificates and kubeconfigs (default: a temporary one, removed on exit)")
	securePort := flag.Int("secure-port", 0, "HTTPS port of the API server on 127.0.0.1 (0: a free port)")
	etcdPort := flag.Int("etcd-port", 0, "client port of etcd on 127.0.0.1 (0: a free port)")
	verbosity := flag.Int("v", 0, "log verbosity of the API server and controller manager")
	flag.Parse()

	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "controlplane-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	files := layout{dir: dir}

	ports := map[string]*int{"secure": securePort, "etcd": etcdPort}
	etcdPeerPort := 0
	ports["etcd-peer"] = &etcdPeerPort
	for name, port := range ports {
		if *port == 0 {
			free, err := freePort()
			if err != nil {
				return fmt.Errorf("finding a free %s port: %w", name, err)
			}
			*port = free
		}
	}

	adminToken, err := writeCredentials(files)
	if err != nil {
		return err
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", *securePort)
	caData, err := os.ReadFile(files.path("serving.crt"))
	if err != nil {
		return err
	}
	if err := writeKubeconfig(files.path("admin.kubeconfig"), server, caData, adminToken); err != nil {
		return err
	}

	etcd, err := startEtcd(files, *etcdPort, etcdPeerPort)
	if err != nil {
		return err
	}
	defer func() {
		etcd.Close()
		<-etcd.Server.StopNotify()
	}()

	apiArgs := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(*securePort),
		"--etcd-servers=" + fmt.Sprintf("http://127.0.0.1:%d", *etcdPort),
		"--cert-dir=" + files.path("certs"),
		"--tls-cert-file=" + files.path("serving.crt"),
		"--tls-private-key-file=" + files.path("serving.key"),
		"--token-auth-file=" + files.path("tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + files.path("service-account.key"),
		"--service-account-signing-key-file=" + files.path("service-account.key"),
		"--api-audiences=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=false",
		// The "kubernetes" Service cannot point at a loopback address; nothing here needs it.
		"--endpoint-reconciler-type=none",
		"--v=" + strconv.Itoa(*verbosity),
	}
	// Flags after "--" go to the API server as they are (the tests add an audit log, for one).
	apiArgs = append(apiArgs, flag.Args()...)
	// The API server installs its own handler for these; this channel only tells run() that a
	// shutdown was asked for.
	stopping := make(chan os.Signal, 1)
	signal.Notify(stopping, syscall.SIGINT, syscall.SIGTERM)
	cmd := apiserver.NewAPIServerCommand()
	cmd.SetArgs(apiArgs)

	served := make(chan error, 1)
	go func() { served <- cmd.Execute() }()

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := waitReady(ctx, server, caData, adminToken, served); err != nil {
		return err
	}

	manager, err := startControllerManager(files, *verbosity)
	if err != nil {
		return err
	}
	managerDone := make(chan error, 1)
	go func() { managerDone <- manager.Wait() }()

	fmt.Printf("controlplane ready kubeconfig=%s\n", files.path("admin.kubeconfig"))
	fmt.Printf("use it with: export KUBECONFIG=%s   (Ctrl-C stops the control plane)\n", files.path("admin.kubeconfig"))

	select {
	case err := <-served:
		// SIGINT/SIGTERM reach the API server's own handler, which shuts it down and returns here.
		stopControllerManager(manager, managerDone)
		return err
	case err := <-managerDone:
		// Ctrl-C in a terminal reaches the controller manager too, and it may exit first: then the
		// API server is already shutting down, and a second signal would make it exit at once.
		select {
		case <-stopping:
			return <-served
		case <-time.After(time.Second):
		}
		// Without the controller manager the tests would wait for garbage collection forever.
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		<-served
		return fmt.Errorf("the controller manager exited: %v", err)
	}
}

func freePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port, nil
}

// writeCredentials creates the serving certificate, the service-account signing key and the token
// file: one token for the admin (system:masters) and one for the controller manager.
func writeCredentials(files layout) (string, error) {
	certPEM, keyPEM, err := cert.GenerateSelfSignedCertKey("localhost", []net.IP{net.ParseIP("127.0.0.1")}, []string{"kubernetes.default.svc"})
	if err != nil {
		return "", fmt.Errorf("generating the serving certificate: %w", err)
	}
	if err := os.WriteFile(files.path("serving.crt"), certPEM, 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(files.path("serving.key"), keyPEM, 0o600); err != nil {
		return "", err
	}
	// 2048 bits: the size kubeadm uses for the service-account key.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	keyBlock := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(files.path("service-account.key"), keyBlock, 0o600); err != nil {
		return "", err
	}
	adminToken, err := randomToken()
	if err != nil {
		return "", err
	}
	managerToken, err := randomToken()
	if err != nil {
		return "", err
	}
	tokens := fmt.Sprintf("%s,admin,admin,\"system:masters\"\n%s,system:kube-controller-manager,kube-controller-manager,\"system:masters\"\n", adminToken, managerToken)
	if err := os.WriteFile(files.path("tokens.csv"), []byte(tokens), 0o600); err != nil {
		return "", err
	}
	return adminToken, os.WriteFile(files.path("controller-manager.token"), []byte(managerToken), 0o600)
}

func randomToken() (string, error) {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return hex.EncodeToString(raw), nil
}

func writeKubeconfig(path, server string, caData []byte, token string) error {
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: controlplane
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: controlplane
  context:
    cluster: controlplane
    user: admin
current-context: controlplane
`, server, base64.StdEncoding.EncodeToString(caData), token)
	return os.WriteFile(path, []byte(content), 0o600)
}

func startEtcd(files layout, clientPort, peerPort int) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "controlplane"
	cfg.Dir = files.path("etcd")
	clientURL, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", clientPort))
	peerURL, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", peerPort))
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	// The data lives as long as one test session; skipping fsync keeps writes from waiting on the
	// disk without changing what the API server sees.
	cfg.UnsafeNoFsync = true
	etcd, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting etcd: %w", err)
	}
	select {
	case <-etcd.Server.ReadyNotify():
		return etcd, nil
	case <-time.After(readyTimeout):
		etcd.Close()
		return nil, errors.New("etcd did not become ready")
	}
}

func waitReady(ctx context.Context, server string, caData []byte, token string, served <-chan error) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caData)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	for {
		request, _ := http.NewRequestWithContext(ctx, http.MethodGet, server+"/readyz", nil)
		request.Header.Set("Authorization", "Bearer "+token)
		response, err := client.Do(request)
		if err == nil {
			response.Body.Close()
			if response.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-served:
			return fmt.Errorf("the API server exited before it was ready: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("the API server did not answer /readyz within %s", readyTimeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func startControllerManager(files layout, verbosity int) (*exec.Cmd, error) {
	token, err := os.ReadFile(files.path("controller-manager.token"))
	if err != nil {
		return nil, err
	}
	admin, err := os.ReadFile(files.path("admin.kubeconfig"))
	if err != nil {
		return nil, err
	}
	adminToken := kubeconfigToken(string(admin))
	kubeconfig := strings.Replace(string(admin), "token: "+adminToken, "token: "+string(token), 1)
	if err := os.WriteFile(files.path("controller-manager.kubeconfig"), []byte(kubeconfig), 0o600); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	manager := exec.Command(self, "controller-manager",
		"--kubeconfig="+files.path("controller-manager.kubeconfig"),
		"--controllers="+strings.Join(controllers, ","),
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file="+files.path("service-account.key"),
		"--root-ca-file="+files.path("serving.crt"),
		"--v="+strconv.Itoa(verbosity),
	)
	manager.Stdout = os.Stderr
	manager.Stderr = os.Stderr
	// The child dies with this process even if it is killed with SIGKILL.
	manager.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := manager.Start(); err != nil {
		return nil, fmt.Errorf("starting the controller manager: %w", err)
	}
	return manager, nil
}

func stopControllerManager(manager *exec.Cmd, done <-chan error) {
	_ = manager.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = manager.Process.Kill()
		<-done
	}
}

func kubeconfigToken(kubeconfig string) string {
	for _, line := range strings.Split(kubeconfig, "\n") {
		if value, found := strings.CutPrefix(strings.TrimSpace(line), "token: "); found {
			return value
		}
	}
	return ""
}
