package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/signer"
	signertypes "github.com/aws/aws-sdk-go-v2/service/signer/types"

	"github.com/kinko-dev/kinko/internal/moto"
)

// fakeSigner answers GetSigningProfile from moto (which keeps profiles) and plays AWS Signer's
// signing jobs, which moto does not have: it reads the source object from moto's S3, appends a
// signature block and writes the result under the destination prefix, as Signer does.
type fakeSigner struct {
	profiles *signer.Client
	s3       *s3.Client
	fail     string // a job fails with this reason when set

	mu      sync.Mutex
	jobs    map[string]*signertypes.S3SignedObject
	started []*signer.StartSigningJobInput
}

func (f *fakeSigner) GetSigningProfile(ctx context.Context, in *signer.GetSigningProfileInput, opts ...func(*signer.Options)) (*signer.GetSigningProfileOutput, error) {
	return f.profiles.GetSigningProfile(ctx, in, opts...)
}

const signatureBlock = "\n-- signed by the test's stand-in for AWS Signer --\n"

func (f *fakeSigner) StartSigningJob(ctx context.Context, in *signer.StartSigningJobInput, _ ...func(*signer.Options)) (*signer.StartSigningJobOutput, error) {
	src := in.Source.S3
	obj, err := f.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: src.BucketName, Key: src.Key, VersionId: src.Version})
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := "job-" + string(rune('a'+len(f.started)))
	f.started = append(f.started, in)
	key := aws.ToString(in.Destination.S3.Prefix) + id + ".zip"
	if _, err := f.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: in.Destination.S3.BucketName, Key: aws.String(key), Body: bytes.NewReader(append(b, signatureBlock...))}); err != nil {
		return nil, err
	}
	if f.jobs == nil {
		f.jobs = map[string]*signertypes.S3SignedObject{}
	}
	f.jobs[id] = &signertypes.S3SignedObject{BucketName: in.Destination.S3.BucketName, Key: aws.String(key)}
	return &signer.StartSigningJobOutput{JobId: aws.String(id)}, nil
}

func (f *fakeSigner) DescribeSigningJob(_ context.Context, in *signer.DescribeSigningJobInput, _ ...func(*signer.Options)) (*signer.DescribeSigningJobOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != "" {
		return &signer.DescribeSigningJobOutput{JobId: in.JobId, Status: signertypes.SigningStatusFailed, StatusReason: aws.String(f.fail)}, nil
	}
	obj, ok := f.jobs[aws.ToString(in.JobId)]
	if !ok {
		return nil, errors.New("no such job")
	}
	return &signer.DescribeSigningJobOutput{JobId: in.JobId, Status: signertypes.SigningStatusSucceeded, SignedObject: &signertypes.SignedObject{S3: obj}}, nil
}

// motoEnv points the AWS SDK at a fresh moto.
func motoEnv(t *testing.T) {
	t.Helper()
	m := moto.ForTest(t)
	for k, v := range m.Env() {
		t.Setenv(k, v)
	}
}

// withFake is the client factory for the tests: moto for Lambda, S3 (path-style: moto is one
// loopback host) and signing profiles; f for signing jobs.
func withFake(f *fakeSigner) func(aws.Config) clients {
	return func(cfg aws.Config) clients {
		s3c := s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = true
			o.DisableLogOutputChecksumValidationSkipped = true // moto sends no checksums
		})
		f.profiles, f.s3 = signer.NewFromConfig(cfg), s3c
		return clients{lambda: lambda.NewFromConfig(cfg), signer: f, s3: s3c}
	}
}

func bucket(t *testing.T, region, name string, versioned bool) {
	t.Helper()
	c := s3.NewFromConfig(awsConfig(t, region), func(o *s3.Options) { o.UsePathStyle = true })
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
	}
	if _, err := c.CreateBucket(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if versioned {
		if _, err := c.PutBucketVersioning(t.Context(), &s3.PutBucketVersioningInput{Bucket: aws.String(name),
			VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
			t.Fatal(err)
		}
	}
}

func profile(t *testing.T, region, name, platform string) {
	t.Helper()
	if _, err := signer.NewFromConfig(awsConfig(t, region)).PutSigningProfile(t.Context(), &signer.PutSigningProfileInput{
		ProfileName: aws.String(name), PlatformId: aws.String(platform),
	}); err != nil {
		t.Fatal(err)
	}
}

func publishWith(t *testing.T, f *fakeSigner, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errs bytes.Buffer
	err = runWith(context.Background(), append([]string{"-runtimes", runtimesFile}, args...), &out, &errs, withFake(f))
	return out.String(), errs.String(), err
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Every version's description carries the zip's SHA-256 (hex, as SHA256SUMS writes it) and the
// version; without a signing profile nothing is signed, and the run says so.
func TestDescriptionCarriesTheZipDigest(t *testing.T) {
	motoEnv(t)
	zipPath := layerZip(t, "digest")
	zipBytes, _ := os.ReadFile(zipPath)
	f := &fakeSigner{}
	_, log, err := publishWith(t, f, "-zip", zipPath, "-arch", "arm64", "-regions", "us-east-1", "-version", "v1.2.3", "-out", filepath.Join(t.TempDir(), "arns"))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if !strings.Contains(log, "not signing the zip") || len(f.started) != 0 {
		t.Errorf("without a profile: %d signing jobs, log %q", len(f.started), log)
	}
	v, err := lambda.NewFromConfig(awsConfig(t, "us-east-1")).GetLayerVersion(t.Context(), &lambda.GetLayerVersionInput{LayerName: aws.String("kinko-arm64"), VersionNumber: aws.Int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	want := "kinko, a Secrets Manager and Parameter Store cache on localhost:2773; v1.2.3; zip sha256:" + hexSHA(zipBytes)
	if got := aws.ToString(v.Description); got != want {
		t.Errorf("description %q, want %q", got, want)
	}
}

// With a profile and a versioned bucket the zip is uploaded, signed, written beside the input
// as NAME.signed-REGION.zip and published from S3; the same build again reuses that version.
func TestSignedPublish(t *testing.T) {
	motoEnv(t)
	for _, r := range []string{"us-east-1", "eu-west-1"} {
		bucket(t, r, "kinko-artifacts-"+r, true)
		profile(t, r, "kinko_release", lambdaSigningPlatform)
	}
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "kinko-layer-arm64.zip")
	unsigned, _ := os.ReadFile(layerZip(t, "signed"))
	if err := os.WriteFile(zipPath, unsigned, 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fakeSigner{}
	args := []string{"-zip", zipPath, "-arch", "arm64", "-regions", "us-east-1 eu-west-1", "-version", "v9",
		"-signing-profile", "kinko_release", "-signing-bucket", "kinko-artifacts-{region}", "-out", filepath.Join(dir, "arns")}
	out, log, err := publishWith(t, f, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if len(f.started) != 2 || aws.ToString(f.started[1].Source.S3.BucketName) != "kinko-artifacts-eu-west-1" ||
		aws.ToString(f.started[0].ProfileName) != "kinko_release" || aws.ToString(f.started[0].Source.S3.Version) == "" {
		t.Fatalf("signing jobs %+v: want one per region, each on a version of the uploaded zip in that region's bucket", f.started)
	}
	for _, r := range []string{"us-east-1", "eu-west-1"} {
		signed, err := os.ReadFile(filepath.Join(dir, "kinko-layer-arm64.signed-"+r+".zip"))
		if err != nil || !bytes.Equal(signed, append(append([]byte{}, unsigned...), signatureBlock...)) {
			t.Fatalf("%s: signed zip beside the input: %v (%d bytes)", r, err, len(signed))
		}
		v, err := lambda.NewFromConfig(awsConfig(t, r)).GetLayerVersion(t.Context(), &lambda.GetLayerVersionInput{LayerName: aws.String("kinko-arm64"), VersionNumber: aws.Int64(1)})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(signed)
		if aws.ToString(v.Content.CodeSha256) != base64.StdEncoding.EncodeToString(sum[:]) {
			t.Errorf("%s: the published layer is not the signed zip", r)
		}
		if d := aws.ToString(v.Description); !strings.Contains(d, "zip sha256:"+hexSHA(unsigned)) || !strings.HasSuffix(d, "signed by AWS Signer profile kinko_release") {
			t.Errorf("%s: description %q: want the unsigned zip's digest (the release's) and the profile", r, d)
		}
	}
	if strings.Count(out, "kinko-arm64:1") != 2 {
		t.Errorf("printed %q", out)
	}

	// The same build again: the versions already hold it, signed by the profile; no new job.
	if _, log, err := publishWith(t, f, args...); err != nil || strings.Count(log, "already holds this zip") != 2 || len(f.started) != 2 {
		t.Fatalf("second run: %v, %d jobs\n%s", err, len(f.started), log)
	}
}

func TestSigningRefusesWhatCannotWork(t *testing.T) {
	motoEnv(t)
	bucket(t, "us-east-1", "plain-bucket", false)
	bucket(t, "us-east-1", "versioned-bucket", true)
	profile(t, "us-east-1", "kinko_release", lambdaSigningPlatform)
	profile(t, "us-east-1", "for_containers", "Notation-OCI-SHA384-ECDSA")
	zipPath := layerZip(t, "refuse")
	cases := map[string]struct {
		profile, bucket, fail, want string
	}{
		"unknown profile":  {"nobody_here", "versioned-bucket", "", "read the profile"},
		"other platform":   {"for_containers", "versioned-bucket", "", "Lambda code signing needs " + lambdaSigningPlatform},
		"no versioning":    {"kinko_release", "plain-bucket", "", "enable versioning"},
		"job fails":        {"kinko_release", "versioned-bucket", "Signature expired", "failed: Signature expired"},
		"no bucket at all": {"kinko_release", "missing-bucket", "", "upload the zip to s3://missing-bucket/"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := &fakeSigner{fail: c.fail}
			_, log, err := publishWith(t, f, "-zip", zipPath, "-arch", "x86_64", "-regions", "us-east-1",
				"-signing-profile", c.profile, "-signing-bucket", c.bucket, "-out", filepath.Join(t.TempDir(), "arns"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want an error saying %q\n%s", err, c.want, log)
			}
			out, err := lambda.NewFromConfig(awsConfig(t, "us-east-1")).ListLayerVersions(t.Context(), &lambda.ListLayerVersionsInput{LayerName: aws.String("kinko-x86_64")})
			if err == nil && len(out.LayerVersions) > 0 {
				t.Fatal("published although signing failed")
			}
		})
	}
}

func TestSigningFlags(t *testing.T) {
	zipPath := layerZip(t, "flags")
	base := []string{"-zip", zipPath, "-arch", "arm64", "-regions", "us-east-1"}
	cases := map[string]struct {
		args []string
		want string
	}{
		"profile, no bucket": {[]string{"-signing-profile", "kinko_release"}, "needs -signing-bucket"},
		"bucket, no profile": {[]string{"-signing-bucket", "b-{region}"}, "without -signing-profile"},
		"bad profile name":   {[]string{"-signing-profile", "my profile", "-signing-bucket", "b"}, "2 to 64 letters"},
		"bad bucket":         {[]string{"-signing-profile", "kinko_release", "-signing-bucket", "Not_A_Bucket"}, "not an S3 bucket name"},
		"long description":   {[]string{"-version", strings.Repeat("v", 200)}, "over Lambda's 256"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := publish(t, append(append([]string{}, base...), c.args...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want an error saying %q", err, c.want)
			}
		})
	}
}
