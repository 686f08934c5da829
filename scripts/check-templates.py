#!/usr/bin/env python3
"""Offline checks of the deployed templates that need what only Python has here: the SAM transform
(samtranslator, with the SAM CLI's AWS::LanguageExtensions expansion) and CloudFormation's resource
schemas with each type's handler permissions (shipped with cfn-lint). Both come with `make setup`.

  scripts/check-templates.py              every check; exits 1 on a failure
  scripts/check-templates.py deploy-role  only the deploy role's coverage
  scripts/check-templates.py required     prints the actions the deploy role must hold, by service

Checks, on template.yaml transformed with samconfig.toml's demo and prod parameters:
  - the deploy role (deploy/github-role.yaml) holds every handler permission of every resource type
    the stacks create (template.yaml after the transform, its nested monitoring.yaml,
    deploy/edge.yaml, and the SAM CLI's own artifact-bucket stack), without the features the stacks do not use, plus the actions sam and
    scripts/deploy.sh call themselves; and nothing else;
  - X-Ray write access on the functions' roles only with TracingMode=Active;
  - production: the edge (CloudFront with the web ACL, the origin header and EDGE_SECRET from one
    generated secret), no CORS origin, log groups kept on delete; the demo: none of that.
"""
import json
import os
import sys
import tomllib

os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")
os.environ.setdefault("SAM_CLI_TELEMETRY", "0")

import cfnlint  # noqa: E402
from samcli.lib.bootstrap.bootstrap import _get_stack_template  # noqa: E402
from samcli.lib.cfn_language_extensions.api import create_default_intrinsic_resolver  # noqa: E402
from samcli.lib.cfn_language_extensions.models import ResolutionMode, TemplateProcessingContext  # noqa: E402
from samcli.lib.cfn_language_extensions.pipeline import ProcessingPipeline  # noqa: E402
from samcli.lib.cfn_language_extensions.processors import ForEachProcessor, TemplateParsingProcessor  # noqa: E402
from samcli.yamlhelper import yaml_parse  # noqa: E402
from samtranslator.parser import parser  # noqa: E402
from samtranslator.translator.translator import Translator  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
WEB_ACL = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/referral-api-prod-edge/abc"

# Handler permissions of features the stacks do not use, so the role leaves them out: customer
# managed KMS keys (tables, secrets, logs and Lambda use AWS's keys), VPCs and file systems,
# Kinesis and Firehose streams, S3 Tables, marketplace rule groups (payments), Lambda capacity
# providers, and DynamoDB imports, replicas and the service-linked role replicas need.
UNUSED_SERVICES = {"kms", "ec2", "elasticfilesystem", "s3files", "kinesis", "firehose", "s3tables", "payments"}
UNUSED_ACTIONS = {
    "lambda:passcapacityprovider",
    "iam:createservicelinkedrole",
    "dynamodb:importtable",
    "dynamodb:describeimport",
    "dynamodb:createtablereplica",
    "dynamodb:associatetablereplica",
}
# What the deploy calls itself, beyond the resources' handlers, and why.
TOOLING = {
    # sam deploy: a change set, its events, the outputs (and deploy.sh reads the edge's outputs).
    "cloudformation:createchangeset": "sam deploy",
    "cloudformation:describechangeset": "sam deploy",
    "cloudformation:executechangeset": "sam deploy",
    "cloudformation:describestacks": "sam deploy, sam list stack-outputs",
    "cloudformation:describestackevents": "sam deploy",
    "cloudformation:gettemplatesummary": "sam deploy (an existing stack's parameters)",
    # sam deploy uploads the functions and the template into its artifact bucket.
    "s3:putobject": "sam deploy's uploads",
    # scripts/sms-delivery-logging.sh: the account's SNS SMS delivery status setting.
    "sns:getsmsattributes": "scripts/sms-delivery-logging.sh",
    "sns:setsmsattributes": "scripts/sms-delivery-logging.sh",
    # API Gateway checks these on the caller when a stage gets an access log.
    "logs:getlogdelivery": "API Gateway access log",
    "logs:updatelogdelivery": "API Gateway access log",
    "logs:deletelogdelivery": "API Gateway access log",
    "logs:listlogdeliveries": "API Gateway access log",
}

failures = []


def check(ok, what, detail=""):
    if ok:
        print(f"ok: {what}")
    else:
        failures.append(what)
        print(f"FAIL: {what}{': ' + detail if detail else ''}", file=sys.stderr)


def load(path):
    with open(os.path.join(ROOT, path)) as f:
        return yaml_parse(f.read())


def overrides(env):
    with open(os.path.join(ROOT, "samconfig.toml"), "rb") as f:
        text = tomllib.load(f)[env]["deploy"]["parameters"]["parameter_overrides"]
    return dict(pair.split("=", 1) for pair in text.split())


NO_VALUE = object()


def expand_for_each(template):
    """The template with its `Fn::ForEach` loops expanded by the SAM CLI's AWS::LanguageExtensions
    processor, and nothing else resolved (its intrinsic resolver drops an `Fn::Sub` it cannot
    finish; CloudFormation expands the loops of the deployed template itself)."""
    context = TemplateProcessingContext(fragment=template, resolution_mode=ResolutionMode.PARTIAL)
    resolver = create_default_intrinsic_resolver(context)
    pipeline = ProcessingPipeline([TemplateParsingProcessor(), ForEachProcessor(intrinsic_resolver=resolver)])
    return pipeline.process_template(context)


def nested_templates(template):
    """(logical id, path, template) of each nested stack with a local template (`sam build`
    packages it), its loops expanded."""
    out = []
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Application":
            location = resource["Properties"]["Location"]
            if isinstance(location, str) and not location.startswith(("s3://", "https://")):
                out.append((name, location, expand_for_each(load(location))))
    return out


def parameter_values(template, params):
    values = {}
    for name, spec in template.get("Parameters", {}).items():
        value = str(params.get(name, spec.get("Default", "")))
        values[name] = value.split(",") if spec["Type"] == "CommaDelimitedList" else value
    return values


def conditions(template, values):
    """Each condition's value, as CloudFormation evaluates the forms the templates use."""
    exprs = template.get("Conditions", {})
    done = {}

    def value(node):
        if isinstance(node, dict) and "Ref" in node:
            return values[node["Ref"]]
        if isinstance(node, dict) and "Fn::Join" in node:
            sep, items = node["Fn::Join"]
            return sep.join(value(items) if isinstance(items, dict) else [value(i) for i in items])
        return node

    def evaluate(node):
        [(fn, args)] = node.items()
        if fn == "Fn::Equals":
            return value(args[0]) == value(args[1])
        if fn == "Fn::Not":
            return not evaluate(args[0])
        if fn == "Fn::And":
            return all(evaluate(a) for a in args)
        if fn == "Fn::Or":
            return any(evaluate(a) for a in args)
        if fn == "Condition":
            return named(args)
        raise ValueError(f"cannot evaluate {node}")

    def named(name):
        if name not in done:
            done[name] = evaluate(exprs[name])
        return done[name]

    return {name: named(name) for name in exprs}


def resolve_ifs(node, conds):
    """`Fn::If` by the conditions' values, with `AWS::NoValue` dropped, as CloudFormation does."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            condition, then, otherwise = node["Fn::If"]
            return resolve_ifs(then if conds[condition] else otherwise, conds)
        if node == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        out = {}
        for key, child in node.items():
            child = resolve_ifs(child, conds)
            if child is not NO_VALUE:
                out[key] = child
        return out
    if isinstance(node, list):
        return [c for c in (resolve_ifs(c, conds) for c in node) if c is not NO_VALUE]
    return node


def transform(params, apply_conditions=True):
    """template.yaml as CloudFormation creates it for these parameters: AWS::LanguageExtensions
    (the loops expanded, the log groups' `Fn::If` policies resolved), then the SAM transform, then
    the conditions applied (conditional resources and outputs dropped, `Fn::If` resolved)."""
    template = expand_for_each(load("template.yaml"))
    values = parameter_values(template, params)
    conds = conditions(template, values)
    assert template["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]
    template["Transform"] = "AWS::Serverless-2016-10-31"
    for resource in template["Resources"].values():
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if policy in resource:
                resource[policy] = resolve_ifs(resource[policy], conds)
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts/function.zip"  # what sam package writes
    translator = Translator(managed_policy_map=None, sam_parser=parser.Parser(), plugins=[])
    out = translator.translate(sam_template=template, parameter_values=values, get_managed_policy_map=lambda: {})
    translator.metrics.publish()  # to the translator's no-op publisher; else it warns on exit
    if not apply_conditions:
        return out
    for section in ("Resources", "Outputs"):
        out[section] = {k: v for k, v in out.get(section, {}).items() if conds.get(v.get("Condition"), True)}
    out["Resources"] = resolve_ifs(out["Resources"], conds)
    out["Outputs"] = resolve_ifs(out["Outputs"], conds)
    return out


def prod_params(**extra):
    params = overrides("prod")
    params["EdgeWebAclArn"] = WEB_ACL  # what scripts/deploy.sh adds
    params.update(extra)
    return params


def of_type(template, kind):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def schema_permissions():
    base = os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas")
    with open(os.path.join(base, "providers", "us-east-1.json")) as f:
        provider = json.load(f)
    with open(os.path.join(os.path.dirname(cfnlint.__file__), "data", "AdditionalSpecs", "Policies.json")) as f:
        iam = json.load(f)

    def real(action):
        service, name = action.lower().split(":", 1)
        return name in iam.get(service, {}).get("Actions", {})

    def permissions(kind):
        with open(os.path.join(base, "resources", f"{provider[kind]}.json")) as f:
            handlers = json.load(f).get("handlers", {})
        found = set()
        for handler in ("create", "read", "update", "delete"):
            for action in handlers.get(handler, {}).get("permissions", []):
                action = action.lower()
                # Schemas list a few names IAM has no action for (API Gateway v1 names, typos):
                # no policy can grant them, so none is needed.
                if real(action) and action.split(":")[0] not in UNUSED_SERVICES and action not in UNUSED_ACTIONS:
                    found.add(action)
        return found

    return permissions


def resource_types():
    """Every resource type the deploy creates, with where it comes from."""
    kinds = {}
    for env, params in (("demo", overrides("default")), ("prod", prod_params())):
        for resource in transform(params, apply_conditions=False)["Resources"].values():
            kinds.setdefault(resource["Type"], f"template.yaml ({env})")
    for name, path, nested in nested_templates(expand_for_each(load("template.yaml"))):
        for resource in nested["Resources"].values():
            kinds.setdefault(resource["Type"], f"{path} (template.yaml's {name})")
    for resource in load("deploy/edge.yaml")["Resources"].values():
        kinds.setdefault(resource["Type"], "deploy/edge.yaml")
    for resource in json.loads(_get_stack_template())["Resources"].values():
        kinds.setdefault(resource["Type"], "the SAM CLI's artifact bucket stack (resolve_s3)")
    return kinds


def role_actions():
    role = load("deploy/github-role.yaml")
    actions = set()
    for policy in of_type(role, "AWS::IAM::ManagedPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow", statement
            listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in listed:
                assert "*" not in action, f"wildcard action {action}"
                actions.add(action.lower())
    inline = role["Resources"]["DeployRole"]["Properties"].get("Policies")
    assert not inline, "the role's permissions live in its managed policies"
    return actions


def check_deploy_role():
    permissions = schema_permissions()
    kinds = resource_types()
    granted = role_actions()
    needed = set()
    for kind, source in sorted(kinds.items()):
        required = permissions(kind)
        needed |= required
        missing = sorted(required - granted)
        check(not missing, f"the deploy role covers {kind} ({source})", f"missing {missing}")
    for action, why in sorted(TOOLING.items()):
        check(action in granted, f"the deploy role allows {action} ({why})")
    extra = sorted(granted - needed - set(TOOLING))
    check(not extra, "the deploy role holds no action the stacks do not need", f"not needed: {extra}")


def print_required():
    permissions = schema_permissions()
    needed = set(TOOLING)
    for kind in resource_types():
        needed |= permissions(kind)
    services = {}
    for action in sorted(needed):
        services.setdefault(action.split(":")[0], []).append(action)
    for service, actions in services.items():
        print(service, " ".join(actions))


def function_roles(template):
    return {k: v for k, v in of_type(template, "AWS::IAM::Role").items() if k.endswith("FunctionRole")}


def check_tracing():
    for mode in ("Disabled", "Active"):
        roles = function_roles(transform(prod_params(TracingMode=mode)))
        with_xray = sorted(
            name for name, role in roles.items()
            if any("xray" in json.dumps(arn).lower() for arn in role["Properties"].get("ManagedPolicyArns", []))
        )
        want = sorted(roles) if mode == "Active" else []
        check(len(roles) == 4 and with_xray == want, f"TracingMode={mode}: X-Ray write access on {want or 'no role'}",
              f"found on {with_xray}")


def env_of(template):
    return {k: v["Properties"]["Environment"]["Variables"] for k, v in of_type(template, "AWS::Lambda::Function").items()}


def check_production_and_demo():
    prod = transform(prod_params())
    demo = transform(overrides("default"))

    # The edge: one distribution in front of the API, with the web ACL and the origin header,
    # whose value is the secret every function gets as EDGE_SECRET.
    distributions = of_type(prod, "AWS::CloudFront::Distribution")
    check(len(distributions) == 1, "production has one CloudFront distribution")
    config = next(iter(distributions.values()))["Properties"]["DistributionConfig"]
    check(config["WebACLId"] == {"Ref": "EdgeWebAclArn"}, "its web ACL is the parameter deploy.sh passes")
    [origin] = config["Origins"]
    headers = {h["HeaderName"]: h["HeaderValue"] for h in origin["OriginCustomHeaders"]}
    secret = {"Fn::Sub": "{{resolve:secretsmanager:${EdgeSecret}:SecretString}}"}
    check(headers.get("x-origin-verify") == secret, "CloudFront sends x-origin-verify from EdgeSecret", str(headers))
    check(origin["DomainName"] == {"Fn::Sub": "${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}"},
          "its origin is the HTTP API")
    behaviour = config["DefaultCacheBehavior"]
    check(set(behaviour["AllowedMethods"]) >= {"GET", "POST", "OPTIONS"} and behaviour["ViewerProtocolPolicy"] == "https-only",
          "every method the API serves, HTTPS only")
    [cache] = of_type(prod, "AWS::CloudFront::CachePolicy").values()
    cache = cache["Properties"]["CachePolicyConfig"]
    keyed = cache["ParametersInCacheKeyAndForwardedToOrigin"]
    check(cache["DefaultTTL"] == 0 and keyed["HeadersConfig"]["Headers"] == ["Authorization"],
          "nothing cached by default; Authorization reaches the API")
    [origin_policy] = of_type(prod, "AWS::CloudFront::OriginRequestPolicy").values()
    forwarded = {h.lower() for h in origin_policy["Properties"]["OriginRequestPolicyConfig"]["HeadersConfig"]["Headers"]}
    check({"content-type", "cloudfront-viewer-address", "origin"} <= forwarded and "host" not in forwarded,
          "Content-Type, Origin and CloudFront-Viewer-Address reach the API, Host does not", str(forwarded))
    envs = env_of(prod)
    check(all(v.get("EDGE_SECRET") == secret for v in envs.values()), "every function gets EDGE_SECRET in production")
    check(all(v.get("EDGE_SECRET") == "" for v in env_of(demo).values()), "the demo's functions get an empty EDGE_SECRET")
    check(not [k for k in demo["Resources"] if k.startswith("Edge")], "the demo has no edge")
    check("EdgeDistribution.DomainName" in json.dumps(prod["Outputs"]["ApiUrl"]), "production's ApiUrl is CloudFront's")

    # CORS: production allows no other origin, the demo `make dev`'s page.
    def cors(template):
        return template["Resources"]["Api"]["Properties"]["Body"].get("x-amazon-apigateway-cors", {})
    check("allowOrigins" not in cors(prod), "production allows no cross-origin page", str(cors(prod)))
    check(cors(demo).get("allowOrigins") == ["http://localhost:9000", "http://127.0.0.1:9000"]
          and cors(demo).get("allowHeaders") == ["authorization", "content-type"],
          "the demo allows make dev's page", str(cors(demo)))

    # Logs: production keeps them when the stack is deleted, the demo does not.
    for name, template, policy in (("production", prod, "Retain"), ("the demo", demo, "Delete")):
        groups = of_type(template, "AWS::Logs::LogGroup")
        policies = {(g.get("DeletionPolicy"), g.get("UpdateReplacePolicy")) for g in groups.values()}
        check(len(groups) == 5 and policies == {(policy, policy)}, f"{name}: every log group is {policy} on delete",
              str(policies))

    # SMS: only a stack that sends real SMS has the delivery status role.
    check("SmsDeliveryStatusRole" in prod["Resources"] and "SmsDeliveryStatusRole" not in demo["Resources"],
          "the SMS delivery status role exists only with SmsSender=sns")


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what == "required":
        print_required()
        return
    check_deploy_role()
    if what == "all":
        check_tracing()
        check_production_and_demo()
    if failures:
        print(f"check-templates.py: {len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print("check-templates.py: all template checks passed")


if __name__ == "__main__":
    main()
