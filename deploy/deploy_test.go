// Package deploy holds the manifests users copy to run kinko outside Lambda: an ECS task
// definition (kinko as a sidecar), a Kubernetes Pod (kinko as a native sidecar) and a systemd
// unit (EC2). Its tests decode each strictly into the real API types and check what the README
// promises of them; nothing here is linked into kinko.
package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	corev1 "k8s.io/api/core/v1"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// What every manifest must agree with: the image's user (internal/cmd/image's User), its
// entrypoint, and the health check the binary has (no shell, no curl in the image).
const (
	imageUID    = 65532
	kinkoBinary = "/kinko"
	pingFlag    = "--ping"
	drainBudget = 5 // seconds, KINKO_DRAIN_MS's default
)

// strictJSON decodes b into v, refusing a key v has no field for and anything after the value.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// unknownEnums lists every value in v whose type is one of the SDK's enums (a string type with
// a Values method) and is not one of its values: a JSON decode takes any string for them.
func unknownEnums(v reflect.Value, path string) []string {
	var bad []string
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			bad = append(bad, unknownEnums(v.Elem(), path)...)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				bad = append(bad, unknownEnums(v.Field(i), path+"."+f.Name)...)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			bad = append(bad, unknownEnums(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			bad = append(bad, unknownEnums(v.MapIndex(k), fmt.Sprintf("%s[%v]", path, k))...)
		}
	case reflect.String:
		values := v.MethodByName("Values")
		if !values.IsValid() || v.Len() == 0 {
			break
		}
		known := values.Call(nil)[0]
		for i := range known.Len() {
			if known.Index(i).String() == v.String() {
				return nil
			}
		}
		bad = append(bad, fmt.Sprintf("%s = %q (%s has %v)", path, v.String(), v.Type().Name(), known.Interface()))
	}
	return bad
}

// sdkRequestBody is what the ECS SDK sends for in: the RegisterTaskDefinition request's JSON
// document, captured before it leaves (nothing is sent anywhere). The SDK validates the input
// first (required members), as it would for a real call.
func sdkRequestBody(ctx context.Context, in *ecs.RegisterTaskDefinitionInput) ([]byte, error) {
	var body []byte
	client := ecs.New(ecs.Options{
		Region:           "us-east-1",
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
		HTTPClient: doFunc(func(r *http.Request) (*http.Response, error) {
			var err error
			if body, err = io.ReadAll(r.Body); err != nil {
				return nil, err
			}
			if target := r.Header.Get("X-Amz-Target"); target != "AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition" {
				return nil, fmt.Errorf("the SDK sent X-Amz-Target %q", target)
			}
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
				Body: io.NopCloser(strings.NewReader(`{"taskDefinition":{"family":"app-with-kinko","revision":1}}`)), Request: r}, nil
		}),
	})
	if _, err := client.RegisterTaskDefinition(ctx, in); err != nil {
		return nil, err
	}
	return body, nil
}

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func generic(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return v
}

// The ECS task definition is a RegisterTaskDefinition request (aws ecs register-task-definition
// --cli-input-json file://deploy/ecs-task-definition.json). The SDK's Go types carry no JSON
// tags and the service's names are camelCase, so a strict decode alone proves little: Go's
// decoder matches names case-insensitively. The decoded input is therefore sent through the
// SDK's own serializer and what it would put on the wire must be the file, key for key and
// value for value: a key the decode matched loosely, or dropped, shows there.
func TestECSTaskDefinition(t *testing.T) {
	raw, err := os.ReadFile("ecs-task-definition.json")
	if err != nil {
		t.Fatal(err)
	}
	var in ecs.RegisterTaskDefinitionInput
	if err := strictJSON(raw, &in); err != nil {
		t.Fatalf("ecs-task-definition.json is not a RegisterTaskDefinition input: %v", err)
	}
	for _, bad := range unknownEnums(reflect.ValueOf(in), "RegisterTaskDefinitionInput") {
		t.Errorf("not one of the API's values: %s", bad)
	}
	sent, err := sdkRequestBody(t.Context(), &in)
	if err != nil {
		t.Fatalf("the ECS SDK refuses the task definition: %v", err)
	}
	if file, wire := generic(t, raw), generic(t, sent); !reflect.DeepEqual(file, wire) {
		t.Errorf("the SDK would send another document than the file: a key is misspelt or lost in decoding\nfile: %s\nwire: %s", compact(t, raw), sent)
	}

	containers := map[string]ecstypes.ContainerDefinition{}
	for _, c := range in.ContainerDefinitions {
		containers[aws.ToString(c.Name)] = c
	}
	kinko, ok := containers["kinko"]
	if !ok {
		t.Fatalf("no container named kinko in %v", slices.Sorted(maps.Keys(containers)))
	}
	// The containers of an awsvpc task share one network namespace: the app reaches kinko on
	// 127.0.0.1, and kinko publishes no port.
	if in.NetworkMode != ecstypes.NetworkModeAwsvpc {
		t.Errorf("networkMode %q: kinko binds loopback, which the task's containers share only in awsvpc mode", in.NetworkMode)
	}
	if len(kinko.PortMappings) != 0 {
		t.Errorf("kinko maps ports %v: it serves the task over loopback, nothing outside", kinko.PortMappings)
	}
	if !aws.ToBool(kinko.Essential) || !aws.ToBool(kinko.ReadonlyRootFilesystem) {
		t.Errorf("kinko: essential %v, readonlyRootFilesystem %v: want both", aws.ToBool(kinko.Essential), aws.ToBool(kinko.ReadonlyRootFilesystem))
	}
	if u := aws.ToString(kinko.User); u != fmt.Sprintf("%d:%d", imageUID, imageUID) {
		t.Errorf("kinko runs as %q, want the image's %d:%d", u, imageUID, imageUID)
	}
	if lp := kinko.LinuxParameters; lp == nil || lp.Capabilities == nil || !slices.Equal(lp.Capabilities.Drop, []string{"ALL"}) || len(lp.Capabilities.Add) > 0 {
		t.Errorf("kinko must drop every capability and add none: %+v", lp)
	}
	hc := kinko.HealthCheck
	if hc == nil {
		t.Fatal("kinko has no healthCheck: dependsOn HEALTHY would never be met")
	}
	// CMD runs the binary itself; CMD-SHELL needs /bin/sh, which the image does not have.
	if !slices.Equal(hc.Command, []string{"CMD", kinkoBinary, pingFlag}) {
		t.Errorf("healthCheck command %q, want [CMD %s %s]", hc.Command, kinkoBinary, pingFlag)
	}
	// The ranges ECS accepts (RegisterTaskDefinition's HealthCheck); the SDK does not check them.
	for _, r := range []struct {
		name     string
		v        *int32
		min, max int32
	}{{"interval", hc.Interval, 5, 300}, {"timeout", hc.Timeout, 2, 60}, {"retries", hc.Retries, 1, 10}, {"startPeriod", hc.StartPeriod, 0, 300}} {
		if r.v != nil && (*r.v < r.min || *r.v > r.max) {
			t.Errorf("healthCheck %s %d: ECS takes %d to %d", r.name, *r.v, r.min, r.max)
		}
	}
	if st := aws.ToInt32(kinko.StopTimeout); st <= drainBudget {
		t.Errorf("kinko's stopTimeout %d s leaves no room for its %d s drain before SIGKILL", st, drainBudget)
	}
	token := tokenSource(kinko.Secrets)
	if token == "" {
		t.Errorf("kinko gets no AWS_TOKEN from a secret: every guarded request would be refused")
	}
	var dependents int
	for name, c := range containers {
		if name == "kinko" {
			continue
		}
		for _, d := range c.DependsOn {
			if aws.ToString(d.ContainerName) == "kinko" {
				dependents++
				if d.Condition != ecstypes.ContainerConditionHealthy {
					t.Errorf("%s depends on kinko with condition %s, want HEALTHY (started is not serving)", name, d.Condition)
				}
			}
		}
		if got := tokenSource(c.Secrets); got != token {
			t.Errorf("%s's AWS_TOKEN comes from %q, kinko's from %q: the app must send kinko's token", name, got, token)
		}
	}
	if dependents == 0 {
		t.Errorf("no container depends on kinko: the app could start before kinko serves")
	}
}

func tokenSource(secrets []ecstypes.Secret) string {
	for _, s := range secrets {
		if aws.ToString(s.Name) == "AWS_TOKEN" {
			return aws.ToString(s.ValueFrom)
		}
	}
	return ""
}

// deref is *p, or the zero value for nil.
func deref[T any](p *T) (v T) {
	if p != nil {
		v = *p
	}
	return v
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// The strict decode is strict: a misspelt key, a key in the wrong case that Go's decoder would
// take, and a value outside an enum are each caught by one of the checks above.
func TestECSChecksCatchMistakes(t *testing.T) {
	raw, err := os.ReadFile("ecs-task-definition.json")
	if err != nil {
		t.Fatal(err)
	}
	var in ecs.RegisterTaskDefinitionInput
	if err := strictJSON(bytes.Replace(raw, []byte(`"healthCheck"`), []byte(`"healthcheck_"`), 1), &in); err == nil {
		t.Errorf("a misspelt key decoded without error")
	}
	wrongCase := bytes.Replace(raw, []byte(`"readonlyRootFilesystem"`), []byte(`"ReadOnlyRootFilesystem"`), 1)
	in = ecs.RegisterTaskDefinitionInput{}
	if err := strictJSON(wrongCase, &in); err != nil {
		t.Fatalf("Go's decoder refused a key in another case (%v): this test's premise is gone", err)
	}
	if sent, err := sdkRequestBody(t.Context(), &in); err != nil {
		t.Fatal(err)
	} else if reflect.DeepEqual(generic(t, wrongCase), generic(t, sent)) {
		t.Errorf("a key in the wrong case was not caught by the round trip through the SDK")
	}
	in = ecs.RegisterTaskDefinitionInput{}
	if err := strictJSON(bytes.Replace(raw, []byte(`"HEALTHY"`), []byte(`"HEALTH"`), 1), &in); err != nil {
		t.Fatal(err)
	}
	if bad := unknownEnums(reflect.ValueOf(in), "in"); len(bad) != 1 || !strings.Contains(bad[0], `"HEALTH"`) {
		t.Errorf("a condition outside ContainerCondition's values: got %v", bad)
	}
	in = ecs.RegisterTaskDefinitionInput{}
	if err := strictJSON(bytes.Replace(raw, []byte(`"family": "app-with-kinko",`), nil, 1), &in); err != nil {
		t.Fatal(err)
	}
	if _, err := sdkRequestBody(t.Context(), &in); err == nil || !strings.Contains(err.Error(), "Family") {
		t.Errorf("a task definition without a family: the SDK said %v, want its missing-parameter error", err)
	}
}

// decodePod decodes a Pod manifest as the API server does when asked for strict field
// validation (kubectl apply --validate=strict): YAML with no duplicate key, then JSON matched
// case-sensitively with no unknown field (sigs.k8s.io/json, the server's decoder).
// sigs.k8s.io/yaml's UnmarshalStrict alone would take readonlyRootFilesystem for
// readOnlyRootFilesystem, as encoding/json does.
func decodePod(raw []byte) (corev1.Pod, error) {
	var pod corev1.Pod
	j, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return pod, err
	}
	strictErrs, err := k8sjson.UnmarshalStrict(j, &pod)
	return pod, errors.Join(append(strictErrs, err)...)
}

// The Pod decodes strictly (unknown, duplicate and miscased keys refused) into k8s.io/api's core/v1 Pod,
// with kinko as a native sidecar: an init container that keeps running (restartPolicy Always),
// probed with exec probes (kinko listens on the pod's loopback, which the kubelet's httpGet
// probes cannot reach), locked down, and sharing its token with the application.
func TestKubernetesPod(t *testing.T) {
	raw, err := os.ReadFile("kubernetes-pod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pod, err := decodePod(raw)
	if err != nil {
		t.Fatalf("kubernetes-pod.yaml is not a core/v1 Pod: %v", err)
	}
	if pod.APIVersion != "v1" || pod.Kind != "Pod" {
		t.Errorf("apiVersion %q kind %q, want v1 Pod", pod.APIVersion, pod.Kind)
	}
	psc := pod.Spec.SecurityContext
	if psc == nil || !deref(psc.RunAsNonRoot) || deref(psc.RunAsUser) != imageUID || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("the pod's securityContext must run as non-root %d with the RuntimeDefault seccomp profile: %+v", imageUID, psc)
	}
	var sidecar *corev1.Container
	for i, c := range pod.Spec.InitContainers {
		if c.Name == "kinko" {
			sidecar = &pod.Spec.InitContainers[i]
		}
	}
	if sidecar == nil {
		t.Fatalf("no init container named kinko (a native sidecar is an init container)")
	}
	if sidecar.RestartPolicy == nil || *sidecar.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("kinko's restartPolicy %q, want Always (otherwise it is an init container that must exit)", deref(sidecar.RestartPolicy))
	}
	probes := map[string]*corev1.Probe{"startupProbe": sidecar.StartupProbe, "readinessProbe": sidecar.ReadinessProbe}
	for name, p := range probes {
		if p == nil {
			t.Errorf("kinko has no %s", name)
			continue
		}
		if p.HTTPGet != nil || p.TCPSocket != nil || p.GRPC != nil {
			t.Errorf("%s probes from outside the pod; kinko listens on loopback: use exec %s %s", name, kinkoBinary, pingFlag)
		}
		if p.Exec == nil || !slices.Equal(p.Exec.Command, []string{kinkoBinary, pingFlag}) {
			t.Errorf("%s: want exec [%s %s], got %+v", name, kinkoBinary, pingFlag, p.ProbeHandler)
		}
	}
	if lp := sidecar.LivenessProbe; lp != nil && (lp.Exec == nil || !slices.Equal(lp.Exec.Command, []string{kinkoBinary, pingFlag})) {
		t.Errorf("livenessProbe: want exec [%s %s], got %+v", kinkoBinary, pingFlag, lp.ProbeHandler)
	}
	if len(sidecar.Ports) != 0 {
		t.Errorf("kinko declares ports %v: it serves the pod over loopback only", sidecar.Ports)
	}
	token := envSecret(sidecar.Env, "AWS_TOKEN")
	if token == nil {
		t.Errorf("kinko gets no AWS_TOKEN from a Secret: every guarded request would be refused")
	}
	for _, c := range append([]corev1.Container{*sidecar}, pod.Spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil || !deref(sc.RunAsNonRoot) || !deref(sc.ReadOnlyRootFilesystem) || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: securityContext must be runAsNonRoot, readOnlyRootFilesystem, no privilege escalation, drop ALL, add none: %+v", c.Name, sc)
		}
		if c.Name != "kinko" && !reflect.DeepEqual(envSecret(c.Env, "AWS_TOKEN"), token) {
			t.Errorf("%s's AWS_TOKEN is not kinko's: the app must send kinko's token", c.Name)
		}
	}
	if len(pod.Spec.Containers) == 0 {
		t.Errorf("the pod has no application container")
	}
	if m := sidecar.Resources.Limits.Memory(); m.IsZero() {
		t.Errorf("kinko has no memory limit")
	}
}

func envSecret(env []corev1.EnvVar, name string) *corev1.SecretKeySelector {
	for _, e := range env {
		if e.Name == name && e.ValueFrom != nil {
			return e.ValueFrom.SecretKeyRef
		}
	}
	return nil
}

// The strict decode refuses what a loose one would drop or misread: a misspelt field, a field
// in the wrong case, a duplicate key.
func TestKubernetesChecksCatchMistakes(t *testing.T) {
	raw, err := os.ReadFile("kubernetes-pod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"misspelt field": bytes.Replace(raw, []byte("readOnlyRootFilesystem: true"), []byte("readOnlyRootFileSystems: true"), 1),
		"wrong case":     bytes.Replace(raw, []byte("readOnlyRootFilesystem: true"), []byte("readonlyRootFilesystem: true"), 1),
		"duplicate key":  bytes.Replace(raw, []byte("      restartPolicy: Always\n"), []byte("      restartPolicy: Always\n      restartPolicy: Never\n"), 1),
	} {
		if bytes.Equal(bad, raw) {
			t.Fatalf("%s: the replacement did not apply; the test is stale", name)
		}
		if _, err := decodePod(bad); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// The systemd unit passes `systemd-analyze verify` (every key known, every value parsed, the
// binary executable) with nothing to say, keeps the hardening the README lists, and its
// exposure (`systemd-analyze security`, 0 safest to 10) stays at 2.0 or below.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found: apt-get install systemd (make deps, e2e/install-deps.sh, installs it)")
	}
	raw, err := os.ReadFile("kinko.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := unitKeys(string(raw))
	if got := keys["ExecStart"]; !slices.Equal(got, []string{"/usr/local/bin/kinko"}) {
		t.Fatalf("ExecStart %q, want /usr/local/bin/kinko (where the unit's header installs it)", got)
	}
	for key, want := range map[string]string{
		"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "LoadCredential": "token:/etc/kinko/token",
		"Environment": "AWS_TOKEN=file://%d/token",
	} {
		if got := keys[key]; !slices.Contains(got, want) {
			t.Errorf("%s=%s missing (have %q)", key, want, got)
		}
	}
	if out, err := verifyUnit(t, analyze, raw); err != nil || out != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// A mistake is caught: the check above can fail.
	if out, _ := verifyUnit(t, analyze, append(bytes.Clone(raw), "\n[Service]\nProtectSytem=strict\n"...)); !strings.Contains(out, "ProtectSytem") {
		t.Errorf("systemd-analyze verify said nothing of an unknown key: %q", out)
	}

	unit := writeUnit(t, raw)
	out, err := exec.CommandContext(t.Context(), analyze, "security", "--offline=yes", "--threshold=20", unit).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: exposure above 2.0 (%v); its table:\n%s", err, out)
	}
}

// unitKeys is each Key=value of a unit file (comments and sections dropped), every value kept.
func unitKeys(unit string) map[string][]string {
	keys := map[string][]string{}
	for l := range strings.Lines(unit) {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' || l[0] == ';' || l[0] == '[' {
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok {
			keys[k] = append(keys[k], v)
		}
	}
	return keys
}

// writeUnit writes the unit as kinko.service in a temporary directory, its ExecStart pointing
// at an executable there (verify checks that the binary exists; the host has no kinko).
func writeUnit(t *testing.T, raw []byte) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "kinko")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "kinko.service")
	if err := os.WriteFile(unit, bytes.Replace(raw, []byte("\nExecStart=/usr/local/bin/kinko\n"), []byte("\nExecStart="+bin+"\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	return unit
}

// verifyUnit runs systemd-analyze verify on the unit and returns what it said about it. It
// exits 0 on an unknown key or a bad value and says so, so what it says is the verdict.
func verifyUnit(t *testing.T, analyze string, raw []byte) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), analyze, "verify", "--man=no", writeUnit(t, raw))
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// The health command the ECS and Kubernetes manifests run, /kinko --ping, exists in the binary
// and tells a serving kinko (exit 0) from a stopped one (exit 1). Skipped, saying so, on a build
// without the plain-process lifecycle.
func TestHealthCommandWorks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kinko")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build kinko")
	}
	bin := filepath.Join(t.TempDir(), "kinko")
	if out, err := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, "../extension").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port := freePort(t)
	env := []string{"PATH=/usr/bin:/bin", "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
		"AWS_ENDPOINT_URL=http://127.0.0.1:1", "AWS_TOKEN=kinko-deploy-test-token", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=" + strconv.Itoa(port)}
	ping := func() (int, string) {
		cmd := exec.CommandContext(t.Context(), bin, pingFlag)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return 0, string(out)
		case errors.As(err, &exit):
			return exit.ExitCode(), string(out)
		}
		t.Fatalf("kinko %s: %v", pingFlag, err)
		return 0, ""
	}
	code, out := ping()
	if strings.Contains(out, "AWS_LAMBDA_RUNTIME_API is not set") {
		t.Skip("this build of kinko runs only as a Lambda extension; the manifests need its plain-process lifecycle")
	}
	if code != 1 {
		t.Errorf("kinko %s with no kinko serving: exit %d, want 1\n%s", pingFlag, code, out)
	}

	server := exec.Command(bin)
	server.Env = env
	var logs bytes.Buffer
	server.Stdout, server.Stderr = &logs, &logs
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- server.Wait() }()
	defer func() {
		_ = server.Process.Kill()
		<-exited
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, out = ping(); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kinko %s never passed against a started kinko (last exit %d: %s)\nkinko: %s", pingFlag, code, out, logs.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("kinko exited (%v): %s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
