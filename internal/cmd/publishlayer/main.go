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
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
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

type options struct {
	zip, arch, name, description, runtimesFile, out string
	regions, shareAccounts                          []string
	shareOrg                                        string
}

var (
	regionRe  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	accountRe = regexp.MustCompile(`^\d{12}$`)
	orgRe     = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	nameRe    = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,140}$`)
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
	if len(problems) > 0 {
		return o, errors.New(strings.Join(problems, "; "))
	}
	return o, nil
}

func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
	p := publisher{o: o, zip: zip, sha: base64.StdEncoding.EncodeToString(sum[:]), runtimes: runtimes, log: stderr}

	var lines []string
	for _, region := range o.regions {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
		if err != nil {
			return fmt.Errorf("%s: load AWS configuration: %w", region, err)
		}
		arn, err := p.publish(ctx, lambda.NewFromConfig(cfg), region)
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
	runtimes []types.Runtime
	log      io.Writer
}

func (p publisher) publish(ctx context.Context, api lambdaAPI, region string) (string, error) {
	arn, version, err := p.sameAsLatest(ctx, api)
	if err != nil {
		return "", err
	}
	if arn != "" {
		fmt.Fprintf(p.log, "%s: %s version %d already holds this zip; not publishing it again\n", region, p.o.name, version)
	} else {
		out, err := api.PublishLayerVersion(ctx, &lambda.PublishLayerVersionInput{
			LayerName:               aws.String(p.o.name),
			Description:             aws.String(p.o.description),
			Content:                 &types.LayerVersionContentInput{ZipFile: p.zip},
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
	if v.Content == nil || aws.ToString(v.Content.CodeSha256) != p.sha ||
		!slices.Equal(v.CompatibleRuntimes, p.runtimes) ||
		!slices.Equal(v.CompatibleArchitectures, []types.Architecture{types.Architecture(p.o.arch)}) {
		return "", 0, nil
	}
	return aws.ToString(v.LayerVersionArn), latest, nil
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
