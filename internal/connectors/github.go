package connectors

import "strings"

// githubType is api.github.com: REST v3 and GraphQL v4.
//
// Params: owner (lower case), repo as "owner/name" (lower case: GitHub
// names are case-insensitive, so a policy on "octo/prod" also holds for
// "/repos/Octo/PROD"), number, and the body fields listed per route.
//
// github.pr.merge (PUT /repos/{owner}/{repo}/pulls/{number}/merge) has no
// base param: neither the URL nor the body names the base branch, and
// finding it would take a GitHub API call, which this package does not make.
// Its params are owner, repo, number and the body's merge_method and sha (the
// head commit the merge is pinned to). A policy about the base branch can
// require approval for github.pr.merge, or gate github.pr.create and
// github.pr.update, whose bodies do carry base.
var githubType = builtin{
	hosts:            []string{"api.github.com"},
	routes:           githubRoutes,
	graphqlPath:      "/graphql",
	format:           bodyJSON, // GitHub reads JSON whatever Content-Type says (curl -d sends a form type)
	credentialHeader: "authorization",
	normalize:        normalizeGitHub,
}

// normalizeGitHub lower-cases owners and repos and joins repo as "owner/name".
func normalizeGitHub(params map[string]any) {
	for _, k := range [...]string{"owner", "org", "username"} {
		if v, ok := params[k].(string); ok {
			params[k] = strings.ToLower(v)
		}
	}
	owner, ok1 := params["owner"].(string)
	repo, ok2 := params["repo"].(string)
	if ok1 && ok2 {
		params["repo"] = owner + "/" + strings.ToLower(repo)
	}
}

const (
	ghRepo    = "/repos/{owner}/{repo}"
	ghPR      = ghRepo + "/pulls/{number:int}"
	ghIssue   = ghRepo + "/issues/{number:int}"
	ghRelease = ghRepo + "/releases/{release_id:int}"
	ghRun     = ghRepo + "/actions/runs/{run_id:int}"
	ghFlow    = ghRepo + "/actions/workflows/{workflow_id}"
)

// qs spells a field list, to keep the tables one route a line.
func qs(s ...string) []string { return s }

var githubRoutes = []RouteSpec{
	// Repositories.
	{"GET", "/user/repos", "github.repo.list", qs("visibility", "affiliation", "type"), nil},
	{"GET", "/orgs/{org}/repos", "github.repo.list", qs("type"), nil},
	{"GET", "/users/{username}/repos", "github.repo.list", qs("type"), nil},
	{"POST", "/user/repos", "github.repo.create", nil, qs("name", "private:bool", "visibility")},
	{"POST", "/orgs/{org}/repos", "github.repo.create", nil, qs("name", "private:bool", "visibility")},
	{"GET", ghRepo, "github.repo.get", nil, nil},
	{"PATCH", ghRepo, "github.repo.update", nil, qs("name", "private:bool", "visibility", "archived:bool", "default_branch")},
	{"DELETE", ghRepo, "github.repo.delete", nil, nil},
	{"POST", ghRepo + "/forks", "github.repo.fork", nil, qs("organization", "name")},
	{"POST", ghRepo + "/transfer", "github.repo.transfer", nil, qs("new_owner", "new_name")},
	{"GET", ghRepo + "/collaborators", "github.collaborator.list", nil, nil},
	{"PUT", ghRepo + "/collaborators/{username}", "github.collaborator.add", nil, qs("permission")},
	{"DELETE", ghRepo + "/collaborators/{username}", "github.collaborator.remove", nil, nil},
	{"GET", ghRepo + "/tags", "github.tag.list", nil, nil},
	{"GET", ghRepo + "/hooks", "github.webhook.list", nil, nil},
	{"POST", ghRepo + "/hooks", "github.webhook.create", nil, qs("config.url", "active:bool")},
	{"DELETE", ghRepo + "/hooks/{hook_id:int}", "github.webhook.delete", nil, nil},
	{"POST", ghRepo + "/keys", "github.deploy_key.create", nil, qs("read_only:bool")},
	{"DELETE", ghRepo + "/keys/{key_id:int}", "github.deploy_key.delete", nil, nil},

	// Pull requests. Literal segments ("comments") come before {number:int},
	// though the int type alone keeps them apart.
	{"GET", ghRepo + "/pulls", "github.pr.list", qs("state", "base", "head"), nil},
	{"POST", ghRepo + "/pulls", "github.pr.create", nil, qs("base", "head", "draft:bool")},
	{"GET", ghRepo + "/pulls/comments", "github.pr_comment.list", nil, nil},
	{"GET", ghRepo + "/pulls/comments/{comment_id:int}", "github.pr_comment.get", nil, nil},
	{"PATCH", ghRepo + "/pulls/comments/{comment_id:int}", "github.pr_comment.update", nil, nil},
	{"DELETE", ghRepo + "/pulls/comments/{comment_id:int}", "github.pr_comment.delete", nil, nil},
	{"GET", ghPR, "github.pr.get", nil, nil},
	{"PATCH", ghPR, "github.pr.update", nil, qs("state", "base")},
	{"GET", ghPR + "/merge", "github.pr_merge.get", nil, nil},
	{"PUT", ghPR + "/merge", "github.pr.merge", nil, qs("merge_method", "sha")},
	{"PUT", ghPR + "/update-branch", "github.pr.update_branch", nil, qs("expected_head_sha")},
	{"GET", ghPR + "/files", "github.pr_file.list", nil, nil},
	{"GET", ghPR + "/commits", "github.pr_commit.list", nil, nil},
	{"GET", ghPR + "/reviews", "github.pr_review.list", nil, nil},
	{"POST", ghPR + "/reviews", "github.pr_review.create", nil, qs("event", "commit_id")},
	{"PUT", ghPR + "/reviews/{review_id:int}/dismissals", "github.pr_review.dismiss", nil, nil},
	{"GET", ghPR + "/comments", "github.pr_comment.list", nil, nil},
	{"POST", ghPR + "/comments", "github.pr_comment.create", nil, qs("commit_id")},
	{"POST", ghPR + "/requested_reviewers", "github.pr_reviewer.add", nil, nil},
	{"DELETE", ghPR + "/requested_reviewers", "github.pr_reviewer.remove", nil, nil},

	// Issues, comments and labels.
	{"GET", ghRepo + "/issues", "github.issue.list", qs("state", "labels", "assignee"), nil},
	{"POST", ghRepo + "/issues", "github.issue.create", nil, nil},
	{"GET", ghRepo + "/issues/comments", "github.issue_comment.list", nil, nil},
	{"GET", ghRepo + "/issues/comments/{comment_id:int}", "github.issue_comment.get", nil, nil},
	{"PATCH", ghRepo + "/issues/comments/{comment_id:int}", "github.issue_comment.update", nil, nil},
	{"DELETE", ghRepo + "/issues/comments/{comment_id:int}", "github.issue_comment.delete", nil, nil},
	{"GET", ghIssue, "github.issue.get", nil, nil},
	{"PATCH", ghIssue, "github.issue.update", nil, qs("state", "state_reason")},
	{"PUT", ghIssue + "/lock", "github.issue.lock", nil, qs("lock_reason")},
	{"DELETE", ghIssue + "/lock", "github.issue.unlock", nil, nil},
	{"GET", ghIssue + "/comments", "github.issue_comment.list", nil, nil},
	{"POST", ghIssue + "/comments", "github.issue_comment.create", nil, nil},
	{"POST", ghIssue + "/labels", "github.issue_label.add", nil, nil},
	{"DELETE", ghIssue + "/labels/{name}", "github.issue_label.remove", nil, nil},
	{"POST", ghIssue + "/assignees", "github.issue_assignee.add", nil, nil},
	{"DELETE", ghIssue + "/assignees", "github.issue_assignee.remove", nil, nil},
	{"GET", ghRepo + "/labels", "github.label.list", nil, nil},
	{"POST", ghRepo + "/labels", "github.label.create", nil, qs("name")},
	{"DELETE", ghRepo + "/labels/{name}", "github.label.delete", nil, nil},

	// Contents, commits and git refs.
	{"GET", ghRepo + "/readme", "github.readme.get", qs("ref"), nil},
	{"GET", ghRepo + "/contents", "github.content.get", qs("ref"), nil},
	{"GET", ghRepo + "/contents/{file_path...}", "github.content.get", qs("ref"), nil},
	{"PUT", ghRepo + "/contents/{file_path...}", "github.content.update", nil, qs("branch", "sha")},
	{"DELETE", ghRepo + "/contents/{file_path...}", "github.content.delete", nil, qs("branch", "sha")},
	{"GET", ghRepo + "/commits", "github.commit.list", qs("sha"), nil},
	{"GET", ghRepo + "/commits/{ref}", "github.commit.get", nil, nil},
	{"GET", ghRepo + "/compare/{basehead}", "github.commit.compare", nil, nil},
	{"POST", ghRepo + "/statuses/{sha}", "github.commit_status.create", nil, qs("state", "context")},
	{"GET", ghRepo + "/git/ref/{ref...}", "github.git_ref.get", nil, nil},
	{"GET", ghRepo + "/git/matching-refs/{ref...}", "github.git_ref.list", nil, nil},
	{"POST", ghRepo + "/git/refs", "github.git_ref.create", nil, qs("ref", "sha")},
	{"PATCH", ghRepo + "/git/refs/{ref...}", "github.git_ref.update", nil, qs("sha", "force:bool")},
	{"DELETE", ghRepo + "/git/refs/{ref...}", "github.git_ref.delete", nil, nil},

	// Branches. {branch} routes with a suffix come before the {branch...}
	// catch-all; a branch name with '/' and a suffix falls to unknown for
	// writes (no PUT catch-all), so it is denied, not misread.
	{"GET", ghRepo + "/branches", "github.branch.list", qs("protected:bool"), nil},
	{"GET", ghRepo + "/branches/{branch}/protection", "github.branch_protection.get", nil, nil},
	{"PUT", ghRepo + "/branches/{branch}/protection", "github.branch_protection.update", nil, nil},
	{"DELETE", ghRepo + "/branches/{branch}/protection", "github.branch_protection.delete", nil, nil},
	{"POST", ghRepo + "/branches/{branch}/rename", "github.branch.rename", nil, qs("new_name")},
	{"GET", ghRepo + "/branches/{branch...}", "github.branch.get", nil, nil},
	{"POST", ghRepo + "/merges", "github.branch.merge", nil, qs("base", "head")},
	{"POST", ghRepo + "/merge-upstream", "github.branch.sync", nil, qs("branch")},

	// Releases.
	{"GET", ghRepo + "/releases", "github.release.list", nil, nil},
	{"POST", ghRepo + "/releases", "github.release.create", nil, qs("tag_name", "target_commitish", "draft:bool", "prerelease:bool")},
	{"GET", ghRepo + "/releases/latest", "github.release.get", nil, nil},
	{"GET", ghRepo + "/releases/tags/{tag}", "github.release.get", nil, nil},
	{"DELETE", ghRepo + "/releases/assets/{asset_id:int}", "github.release_asset.delete", nil, nil},
	{"GET", ghRelease, "github.release.get", nil, nil},
	{"PATCH", ghRelease, "github.release.update", nil, qs("tag_name", "draft:bool", "prerelease:bool")},
	{"DELETE", ghRelease, "github.release.delete", nil, nil},
	{"GET", ghRelease + "/assets", "github.release_asset.list", nil, nil},
	{"POST", ghRelease + "/assets", "github.release_asset.upload", qs("name"), nil},

	// Actions.
	{"GET", ghRepo + "/actions/workflows", "github.workflow.list", nil, nil},
	{"GET", ghFlow, "github.workflow.get", nil, nil},
	{"POST", ghFlow + "/dispatches", "github.workflow.dispatch", nil, qs("ref")},
	{"PUT", ghFlow + "/enable", "github.workflow.enable", nil, nil},
	{"PUT", ghFlow + "/disable", "github.workflow.disable", nil, nil},
	{"GET", ghFlow + "/runs", "github.workflow_run.list", qs("branch", "status", "event"), nil},
	{"GET", ghRepo + "/actions/runs", "github.workflow_run.list", qs("branch", "status", "event"), nil},
	{"GET", ghRun, "github.workflow_run.get", nil, nil},
	{"DELETE", ghRun, "github.workflow_run.delete", nil, nil},
	{"POST", ghRun + "/rerun", "github.workflow_run.rerun", nil, nil},
	{"POST", ghRun + "/cancel", "github.workflow_run.cancel", nil, nil},
	{"GET", ghRun + "/logs", "github.workflow_run_log.get", nil, nil},
	{"GET", ghRepo + "/actions/secrets", "github.actions_secret.list", nil, nil},
	{"PUT", ghRepo + "/actions/secrets/{secret_name}", "github.actions_secret.update", nil, nil},
	{"DELETE", ghRepo + "/actions/secrets/{secret_name}", "github.actions_secret.delete", nil, nil},

	// Users, organisations, search, gists.
	{"GET", "/user", "github.user.get", nil, nil},
	{"GET", "/users/{username}", "github.user.get", nil, nil},
	{"GET", "/orgs/{org}", "github.org.get", nil, nil},
	{"GET", "/orgs/{org}/members", "github.org_member.list", nil, nil},
	{"GET", "/search/repositories", "github.repo.search", nil, nil},
	{"GET", "/search/issues", "github.issue.search", nil, nil},
	{"GET", "/search/code", "github.code.search", nil, nil},
	{"GET", "/rate_limit", "github.rate_limit.get", nil, nil},
	{"GET", "/gists", "github.gist.list", nil, nil},
	{"POST", "/gists", "github.gist.create", nil, qs("public:bool")},
}
