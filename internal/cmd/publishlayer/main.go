// Command publishlayer publishes the kinko layer on its own, without the sample function, to one
// or more regions, and prints and writes the version ARNs. `make publish-layer` runs it.
//
//	go run ./internal/cmd/publishlayer -zip dist/kinko-layer-arm64.zip -arch arm64 \
//	    -regions "us-east-1 eu-west-1" [-share-account 111122223333] [-share-org o-abc123]
//
// It never deletes a version: functions may be pinned to old ones. When the newest version of the
// layer in a region already holds the same zip for the same runtimes and architecture, that
// version is reused, so running it twice does not make a second copy. Sharing adds
// AddLayerVersionPermission statements (lambda:GetLayerVersion) for an account, everyone ("*"),
// or an organization's accounts.
//
// Each version's description ends with the zip's SHA-256 in hex ("sha256:..."), the digest the
// release's SHA256SUMS lists, so whoever attaches the layer can tell which build it is.
//
// With -signing-profile (an AWS Signer profile for the AWSLambda-SHA384-ECDSA platform) and
// -signing-bucket (a versioned S3 bucket in the region, which Signer reads from and writes to),
// the zip is signed with AWS Signer before it is published, for functions whose code signing
// configuration requires signed layers: the zip is uploaded, a signing job run, and the signed
// zip both published and written beside the input (NAME.signed-REGION.zip). Without a profile
// nothing is signed.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/signer"
	signertypes "github.com/aws/aws-sdk-go-v2/service/signer/types"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "publishlayer:", err)
		os.Exit(1)
	}
}

// maxRuntimes is Lambda's limit on CompatibleRuntimes (PublishLayerVersion: at most 15 items).
const maxRuntimes = 15

// maxDescription is Lambda's limit on a layer version's Description.
const maxDescription = 256

// lambdaSigningPlatform is the AWS Signer platform Lambda code signing accepts.
const lambdaSigningPlatform = "AWSLambda-SHA384-ECDSA"

type options struct {
	zip, arch, name, description, runtimesFile, out string
	regions, shareAccounts                          []string
	shareOrg                                        string
	version                                         string
	signingProfile, signingBucket                   string
	signingTimeout                                  time.Duration
}

var (
	regionRe  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	accountRe = regexp.MustCompile(`^\d{12}$`)
	orgRe     = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	nameRe    = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,140}$`)
	// AWS Signer profile names: letters, digits and underscores, 2 to 64.
	profileRe = regexp.MustCompile(`^[a-zA-Z0-9_]{2,64}$`)
	// An S3 bucket name, where "{region}" stands for each region's name.
	bucketRe = regexp.MustCompile(`^[a-z0-9{][a-z0-9.{}-]{1,80}[a-z0-9}]$`)
)

func parse(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("publishlayer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var regions, accounts string
	fs.StringVar(&o.zip, "zip", "", "the layer zip (dist/kinko-layer-ARCH.zip)")
	fs.StringVar(&o.arch, "arch", "", "arm64 or x86_64: the architecture the zip was built for")
	fs.StringVar(&regions, "regions", "", `regions to publish to, separated by spaces or commas ("us-east-1 eu-west-1")`)
	fs.StringVar(&o.name, "name", "", "layer name (default kinko-ARCH)")
	fs.StringVar(&o.description, "description", "kinko, a Secrets Manager and Parameter Store cache on localhost:2773", "layer version description")
	fs.StringVar(&o.runtimesFile, "runtimes", "layer/compatible-runtimes.json", "JSON list of the runtimes the console offers the layer to")
	fs.StringVar(&o.out, "out", "", "file to write the version ARNs to, one \"REGION ARN\" line each (default dist/layer-arns-ARCH.txt)")
	fs.StringVar(&accounts, "share-account", "", `account ids (comma-separated) that may use the layer, or "*" for every account`)
	fs.StringVar(&o.shareOrg, "share-org", "", "an AWS Organizations id (o-...) whose accounts may use the layer")
	fs.StringVar(&o.version, "version", "", "the release's version, written into the description beside the zip's SHA-256")
	fs.StringVar(&o.signingProfile, "signing-profile", "", "sign the zip with this AWS Signer profile ("+lambdaSigningPlatform+") before publishing; empty: no signing")
	fs.StringVar(&o.signingBucket, "signing-bucket", "", `with -signing-profile: a versioned S3 bucket in each region for the signing job ("{region}" is replaced by the region)`)
	fs.DurationVar(&o.signingTimeout, "signing-timeout", 10*time.Minute, "how long to wait for a signing job")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	var problems []string
	if o.zip == "" {
		problems = append(problems, "-zip is required (make layer builds dist/kinko-layer-ARCH.zip)")
	}
	if o.arch != "arm64" && o.arch != "x86_64" {
		problems = append(problems, fmt.Sprintf("-arch %q: want arm64 or x86_64", o.arch))
	}
	o.regions = fields(regions)
	if len(o.regions) == 0 {
		problems = append(problems, `-regions is required, e.g. -regions "us-east-1 eu-west-1"`)
	}
	for _, r := range o.regions {
		if !regionRe.MatchString(r) {
			problems = append(problems, fmt.Sprintf("-regions: %q is not a region name like eu-west-1", r))
		}
	}
	if o.name == "" {
		o.name = "kinko-" + o.arch
	}
	if !nameRe.MatchString(o.name) {
		problems = append(problems, fmt.Sprintf("-name %q: letters, digits, - and _ only, at most 140", o.name))
	}
	o.shareAccounts = fields(accounts)
	for _, a := range o.shareAccounts {
		if a != "*" && !accountRe.MatchString(a) {
			problems = append(problems, fmt.Sprintf("-share-account: %q is not a 12-digit account id or *", a))
		}
	}
	if o.shareOrg != "" && !orgRe.MatchString(o.shareOrg) {
		problems = append(problems, fmt.Sprintf("-share-org %q: want an organization id like o-a1b2c3d4e5", o.shareOrg))
	}
	if o.out == "" {
		o.out = "dist/layer-arns-" + o.arch + ".txt"
	}
	switch {
	case o.signingProfile == "" && o.signingBucket != "":
		problems = append(problems, "-signing-bucket without -signing-profile: name the AWS Signer profile too (SIGNING_PROFILE=...)")
	case o.signingProfile != "" && !profileRe.MatchString(o.signingProfile):
		problems = append(problems, fmt.Sprintf("-signing-profile %q: an AWS Signer profile name is 2 to 64 letters, digits or underscores", o.signingProfile))
	case o.signingProfile != "" && o.signingBucket == "":
		problems = append(problems, "-signing-profile needs -signing-bucket: a versioned S3 bucket in each region that AWS Signer reads the zip from and writes the signed zip to (SIGNING_BUCKET=...)")
	case o.signingProfile != "" && !bucketRe.MatchString(o.signingBucket):
		problems = append(problems, fmt.Sprintf("-signing-bucket %q is not an S3 bucket name", o.signingBucket))
	}
	if len(describe(o, strings.Repeat("0", 64))) > maxDescription {
		problems = append(problems, fmt.Sprintf("-description and -version make a description over Lambda's %d characters: shorten them", maxDescription))
	}
	if len(problems) > 0 {
		return o, errors.New(strings.Join(problems, "; "))
	}
	return o, nil
}

func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

// describe is a layer version's description: the text, the version, the zip's SHA-256 in hex
// (as SHA256SUMS lists it), and the signing profile when the zip was signed.
func describe(o options, hexSum string) string {
	d := o.description
	if o.version != "" {
		d += "; " + o.version
	}
	d += "; zip sha256:" + hexSum
	if o.signingProfile != "" {
		d += "; signed by AWS Signer profile " + o.signingProfile
	}
	return d
}

// clients are the AWS APIs publishing uses in one region.
type clients struct {
	lambda lambdaAPI
	signer signerAPI
	s3     s3API
}

func awsClients(cfg aws.Config) clients {
	return clients{lambda: lambda.NewFromConfig(cfg), signer: signer.NewFromConfig(cfg), s3: s3.NewFromConfig(cfg)}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runWith(ctx, args, stdout, stderr, awsClients)
}

func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, newClients func(aws.Config) clients) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	zip, err := os.ReadFile(o.zip)
	if err != nil {
		return fmt.Errorf("read the layer zip: %w (make layer builds it)", err)
	}
	runtimes, err := readRuntimes(o.runtimesFile)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(zip)
	p := publisher{o: o, zip: zip, sha: base64.StdEncoding.EncodeToString(sum[:]), hexSum: hex.EncodeToString(sum[:]), runtimes: runtimes, log: stderr}
	if o.signingProfile == "" {
		fmt.Fprintln(stderr, "not signing the zip (no -signing-profile / SIGNING_PROFILE)")
	}

	var lines []string
	for _, region := range o.regions {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
		if err != nil {
			return fmt.Errorf("%s: load AWS configuration: %w", region, err)
		}
		arn, err := p.publish(ctx, newClients(cfg), region)
		if err != nil {
			return fmt.Errorf("%s: %w", region, err)
		}
		fmt.Fprintln(stdout, arn)
		lines = append(lines, region+" "+arn)
	}
	if err := os.WriteFile(o.out, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("write the ARNs: %w", err)
	}
	fmt.Fprintf(stderr, "wrote %d layer version ARN(s) to %s\n", len(lines), o.out)
	return nil
}

func readRuntimes(path string) ([]types.Runtime, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the runtime list: %w", err)
	}
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return nil, fmt.Errorf("%s: want a JSON list of runtime names: %w", path, err)
	}
	if len(names) == 0 || len(names) > maxRuntimes {
		return nil, fmt.Errorf("%s lists %d runtimes; Lambda takes 1 to %d", path, len(names), maxRuntimes)
	}
	known := types.Runtime("").Values()
	out := make([]types.Runtime, 0, len(names))
	for _, n := range names {
		if !slices.Contains(known, types.Runtime(n)) {
			return nil, fmt.Errorf("%s: %q is not a Lambda runtime this SDK knows", path, n)
		}
		out = append(out, types.Runtime(n))
	}
	return out, nil
}

// lambdaAPI is what publishing needs from Lambda.
type lambdaAPI interface {
	ListLayerVersions(context.Context, *lambda.ListLayerVersionsInput, ...func(*lambda.Options)) (*lambda.ListLayerVersionsOutput, error)
	GetLayerVersion(context.Context, *lambda.GetLayerVersionInput, ...func(*lambda.Options)) (*lambda.GetLayerVersionOutput, error)
	PublishLayerVersion(context.Context, *lambda.PublishLayerVersionInput, ...func(*lambda.Options)) (*lambda.PublishLayerVersionOutput, error)
	GetLayerVersionPolicy(context.Context, *lambda.GetLayerVersionPolicyInput, ...func(*lambda.Options)) (*lambda.GetLayerVersionPolicyOutput, error)
	AddLayerVersionPermission(context.Context, *lambda.AddLayerVersionPermissionInput, ...func(*lambda.Options)) (*lambda.AddLayerVersionPermissionOutput, error)
}

type publisher struct {
	o        options
	zip      []byte
	sha      string // base64 SHA-256, as Lambda reports CodeSha256
	hexSum   string // the same in hex, as sha256sum and the description write it
	runtimes []types.Runtime
	log      io.Writer
}

func (p publisher) publish(ctx context.Context, c clients, region string) (string, error) {
	api := c.lambda
	arn, version, err := p.sameAsLatest(ctx, api)
	if err != nil {
		return "", err
	}
	if arn != "" {
		fmt.Fprintf(p.log, "%s: %s version %d already holds this zip; not publishing it again\n", region, p.o.name, version)
	} else {
		content := &types.LayerVersionContentInput{ZipFile: p.zip}
		if p.o.signingProfile != "" {
			obj, err := p.sign(ctx, c, region)
			if err != nil {
				return "", fmt.Errorf("sign %s with AWS Signer profile %s: %w", p.o.zip, p.o.signingProfile, err)
			}
			content = &types.LayerVersionContentInput{S3Bucket: aws.String(obj.bucket), S3Key: aws.String(obj.key), S3ObjectVersion: obj.version}
		}
		out, err := api.PublishLayerVersion(ctx, &lambda.PublishLayerVersionInput{
			LayerName:               aws.String(p.o.name),
			Description:             aws.String(describe(p.o, p.hexSum)),
			Content:                 content,
			CompatibleRuntimes:      p.runtimes,
			CompatibleArchitectures: []types.Architecture{types.Architecture(p.o.arch)},
		})
		if err != nil {
			return "", fmt.Errorf("publish %s: %w", p.o.name, err)
		}
		arn, version = aws.ToString(out.LayerVersionArn), out.Version
		fmt.Fprintf(p.log, "%s: published %s version %d\n", region, p.o.name, version)
	}
	if err := p.share(ctx, api, version); err != nil {
		return "", err
	}
	return arn, nil
}

// sameAsLatest returns the newest version's ARN when it holds this zip with the same runtimes and
// architecture, else "".
func (p publisher) sameAsLatest(ctx context.Context, api lambdaAPI) (string, int64, error) {
	var latest int64
	pages := lambda.NewListLayerVersionsPaginator(api, &lambda.ListLayerVersionsInput{LayerName: aws.String(p.o.name)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		var notFound *types.ResourceNotFoundException
		if errors.As(err, &notFound) {
			return "", 0, nil
		}
		if err != nil {
			return "", 0, fmt.Errorf("list versions of %s: %w", p.o.name, err)
		}
		for _, v := range page.LayerVersions {
			latest = max(latest, v.Version)
		}
	}
	if latest == 0 {
		return "", 0, nil
	}
	v, err := api.GetLayerVersion(ctx, &lambda.GetLayerVersionInput{LayerName: aws.String(p.o.name), VersionNumber: aws.Int64(latest)})
	if err != nil {
		return "", 0, fmt.Errorf("read %s version %d: %w", p.o.name, latest, err)
	}
	if !slices.Equal(v.CompatibleRuntimes, p.runtimes) ||
		!slices.Equal(v.CompatibleArchitectures, []types.Architecture{types.Architecture(p.o.arch)}) {
		return "", 0, nil
	}
	// A signed zip is not the bytes of the one given (the signature is added to it), and signing
	// it again gives other bytes: the description's digest and profile say it is this build,
	// signed the same way. Unsigned, the stored zip must be this one.
	desc := aws.ToString(v.Description)
	if p.o.signingProfile != "" {
		if !strings.Contains(desc, "sha256:"+p.hexSum) || !strings.HasSuffix(desc, "signed by AWS Signer profile "+p.o.signingProfile) {
			return "", 0, nil
		}
	} else if v.Content == nil || aws.ToString(v.Content.CodeSha256) != p.sha {
		return "", 0, nil
	}
	return aws.ToString(v.LayerVersionArn), latest, nil
}

// signerAPI is what signing needs from AWS Signer.
type signerAPI interface {
	GetSigningProfile(context.Context, *signer.GetSigningProfileInput, ...func(*signer.Options)) (*signer.GetSigningProfileOutput, error)
	StartSigningJob(context.Context, *signer.StartSigningJobInput, ...func(*signer.Options)) (*signer.StartSigningJobOutput, error)
	DescribeSigningJob(context.Context, *signer.DescribeSigningJobInput, ...func(*signer.Options)) (*signer.DescribeSigningJobOutput, error)
}

// s3API is what signing needs from S3: AWS Signer reads and writes objects there.
type s3API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

type s3Object struct {
	bucket, key string
	version     *string
}

// signingPoll is how often a signing job's status is read.
const signingPoll = 2 * time.Second

// sign uploads the zip, signs it with the profile and returns the signed object; the signed zip
// is also written beside the input, NAME.signed-REGION.zip.
func (p publisher) sign(ctx context.Context, c clients, region string) (s3Object, error) {
	prof, err := c.signer.GetSigningProfile(ctx, &signer.GetSigningProfileInput{ProfileName: aws.String(p.o.signingProfile)})
	if err != nil {
		return s3Object{}, fmt.Errorf("read the profile in %s: %w", region, err)
	}
	if prof.Status != signertypes.SigningProfileStatusActive {
		return s3Object{}, fmt.Errorf("the profile is %s, not Active", prof.Status)
	}
	if aws.ToString(prof.PlatformId) != lambdaSigningPlatform {
		return s3Object{}, fmt.Errorf("the profile is for platform %s; Lambda code signing needs %s", aws.ToString(prof.PlatformId), lambdaSigningPlatform)
	}
	bucket := strings.ReplaceAll(p.o.signingBucket, "{region}", region)
	key := "kinko/unsigned/" + p.o.name + "/" + p.hexSum + ".zip"
	put, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(p.zip)})
	if err != nil {
		return s3Object{}, fmt.Errorf("upload the zip to s3://%s/%s: %w", bucket, key, err)
	}
	if aws.ToString(put.VersionId) == "" {
		return s3Object{}, fmt.Errorf("bucket %s has no versioning: AWS Signer signs a version of an object, so enable versioning on it", bucket)
	}
	job, err := c.signer.StartSigningJob(ctx, &signer.StartSigningJobInput{
		ProfileName: aws.String(p.o.signingProfile),
		Source:      &signertypes.Source{S3: &signertypes.S3Source{BucketName: aws.String(bucket), Key: aws.String(key), Version: put.VersionId}},
		Destination: &signertypes.Destination{S3: &signertypes.S3Destination{BucketName: aws.String(bucket), Prefix: aws.String("kinko/signed/" + p.o.name + "/")}},
		// One job per zip and version of the object: a retried run does not start a second.
		ClientRequestToken: aws.String(p.hexSum[:32] + aws.ToString(put.VersionId)),
	})
	if err != nil {
		return s3Object{}, fmt.Errorf("start the signing job: %w", err)
	}
	jobID := aws.ToString(job.JobId)
	fmt.Fprintf(p.log, "%s: signing job %s started for s3://%s/%s\n", region, jobID, bucket, key)
	ctx, cancel := context.WithTimeout(ctx, p.o.signingTimeout)
	defer cancel()
	for {
		d, err := c.signer.DescribeSigningJob(ctx, &signer.DescribeSigningJobInput{JobId: aws.String(jobID)})
		if err != nil {
			return s3Object{}, fmt.Errorf("signing job %s: %w", jobID, err)
		}
		switch d.Status {
		case signertypes.SigningStatusSucceeded:
			if d.SignedObject == nil || d.SignedObject.S3 == nil || aws.ToString(d.SignedObject.S3.Key) == "" {
				return s3Object{}, fmt.Errorf("signing job %s succeeded but names no signed object", jobID)
			}
			obj := s3Object{bucket: aws.ToString(d.SignedObject.S3.BucketName), key: aws.ToString(d.SignedObject.S3.Key)}
			if obj.bucket == "" {
				obj.bucket = bucket
			}
			if err := p.saveSigned(ctx, c.s3, obj, region); err != nil {
				return s3Object{}, err
			}
			return obj, nil
		case signertypes.SigningStatusFailed:
			return s3Object{}, fmt.Errorf("signing job %s failed: %s", jobID, aws.ToString(d.StatusReason))
		}
		select {
		case <-ctx.Done():
			return s3Object{}, fmt.Errorf("signing job %s still %s after %s: %w", jobID, d.Status, p.o.signingTimeout, ctx.Err())
		case <-time.After(signingPoll):
		}
	}
}

// saveSigned writes the signed zip beside the input, so it can be checked and kept.
func (p publisher) saveSigned(ctx context.Context, api s3API, obj s3Object, region string) error {
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(obj.bucket), Key: aws.String(obj.key)})
	if err != nil {
		return fmt.Errorf("download the signed zip s3://%s/%s: %w", obj.bucket, obj.key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return fmt.Errorf("download the signed zip s3://%s/%s: %w", obj.bucket, obj.key, err)
	}
	path := strings.TrimSuffix(p.o.zip, ".zip") + ".signed-" + region + ".zip"
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(p.log, "%s: signed zip written to %s (from s3://%s/%s)\n", region, path, obj.bucket, obj.key)
	return nil
}

// share grants lambda:GetLayerVersion on one version to each account and the organization, once:
// a statement id already in the version's policy is left as it is.
func (p publisher) share(ctx context.Context, api lambdaAPI, version int64) error {
	type grant struct{ sid, principal, org string }
	var grants []grant
	for _, a := range p.o.shareAccounts {
		sid := "kinko-share-" + a
		if a == "*" {
			sid = "kinko-share-everyone"
		}
		grants = append(grants, grant{sid: sid, principal: a})
	}
	if p.o.shareOrg != "" {
		grants = append(grants, grant{sid: "kinko-share-" + p.o.shareOrg, principal: "*", org: p.o.shareOrg})
	}
	if len(grants) == 0 {
		return nil
	}
	existing, err := p.statementIDs(ctx, api, version)
	if err != nil {
		return err
	}
	for _, g := range grants {
		if existing[g.sid] {
			continue
		}
		in := &lambda.AddLayerVersionPermissionInput{
			LayerName:     aws.String(p.o.name),
			VersionNumber: aws.Int64(version),
			StatementId:   aws.String(g.sid),
			Action:        aws.String("lambda:GetLayerVersion"),
			Principal:     aws.String(g.principal),
		}
		if g.org != "" {
			in.OrganizationId = aws.String(g.org)
		}
		if _, err := api.AddLayerVersionPermission(ctx, in); err != nil {
			return fmt.Errorf("share %s version %d (%s): %w", p.o.name, version, g.sid, err)
		}
		fmt.Fprintf(p.log, "shared %s version %d: %s\n", p.o.name, version, g.sid)
	}
	return nil
}

func (p publisher) statementIDs(ctx context.Context, api lambdaAPI, version int64) (map[string]bool, error) {
	out, err := api.GetLayerVersionPolicy(ctx, &lambda.GetLayerVersionPolicyInput{LayerName: aws.String(p.o.name), VersionNumber: aws.Int64(version)})
	var notFound *types.ResourceNotFoundException
	if errors.As(err, &notFound) { // no policy yet
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the policy of %s version %d: %w", p.o.name, version, err)
	}
	var doc struct{ Statement []struct{ Sid string } }
	if err := json.Unmarshal([]byte(aws.ToString(out.Policy)), &doc); err != nil {
		return nil, fmt.Errorf("the policy of %s version %d is not JSON: %w", p.o.name, version, err)
	}
	ids := map[string]bool{}
	for _, s := range doc.Statement {
		ids[s.Sid] = true
	}
	return ids, nil
}
