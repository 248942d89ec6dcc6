package connectors

import "testing"

// gh returns the params of a request on octo/hello plus pairs.
func gh(kv ...any) P {
	p := P{"owner": "octo", "repo": "octo/hello"}
	for i := 0; i < len(kv); i += 2 {
		p[kv[i].(string)] = kv[i+1]
	}
	return p
}

const r = "/repos/octo/hello"

var githubGolden = []golden{
	// Repositories.
	{"lists the user's repositories", "GET", "/user/repos?visibility=private&per_page=100", "", "github.repo.list", P{"visibility": "private"}},
	{"lists an org's repositories", "GET", "/orgs/Acme/repos?type=all", "", "github.repo.list", P{"org": "acme", "type": "all"}},
	{"lists a user's repositories", "GET", "/users/Mona/repos", "", "github.repo.list", P{"username": "mona"}},
	{"creates a user repository", "POST", "/user/repos", `{"name":"tool","private":true}`, "github.repo.create", P{"name": "tool", "private": true}},
	{"creates an org repository", "POST", "/orgs/acme/repos", `{"name":"svc","visibility":"internal"}`, "github.repo.create", P{"org": "acme", "name": "svc", "visibility": "internal"}},
	{"gets a repository", "GET", r, "", "github.repo.get", gh()},
	{"lower-cases owner and repo", "GET", "/repos/Octo/Hello", "", "github.repo.get", gh()},
	{"updates a repository's visibility", "PATCH", r, `{"visibility":"public","archived":false}`, "github.repo.update", gh("visibility", "public", "archived", false)},
	{"deletes a repository", "DELETE", r, "", "github.repo.delete", gh()},
	{"forks a repository into an org", "POST", r + "/forks", `{"organization":"evil"}`, "github.repo.fork", gh("organization", "evil")},
	{"transfers a repository", "POST", r + "/transfer", `{"new_owner":"other"}`, "github.repo.transfer", gh("new_owner", "other")},
	{"lists collaborators", "GET", r + "/collaborators", "", "github.collaborator.list", gh()},
	{"adds an admin collaborator", "PUT", r + "/collaborators/Eve", `{"permission":"admin"}`, "github.collaborator.add", gh("username", "eve", "permission", "admin")},
	{"removes a collaborator", "DELETE", r + "/collaborators/eve", "", "github.collaborator.remove", gh("username", "eve")},
	{"lists tags", "GET", r + "/tags", "", "github.tag.list", gh()},
	{"lists webhooks", "GET", r + "/hooks", "", "github.webhook.list", gh()},
	{"creates a webhook and exposes its nested url", "POST", r + "/hooks", `{"name":"web","config":{"url":"https://x.example/h","content_type":"json"},"active":true}`, "github.webhook.create", gh("config_url", "https://x.example/h", "active", true)},
	{"deletes a webhook", "DELETE", r + "/hooks/12", "", "github.webhook.delete", gh("hook_id", 12.0)},
	{"creates a read-write deploy key", "POST", r + "/keys", `{"title":"ci","key":"ssh-ed25519 AAAA","read_only":false}`, "github.deploy_key.create", gh("read_only", false)},
	{"deletes a deploy key", "DELETE", r + "/keys/7", "", "github.deploy_key.delete", gh("key_id", 7.0)},

	// Pull requests.
	{"lists open pull requests into main", "GET", r + "/pulls?state=open&base=main", "", "github.pr.list", gh("state", "open", "base", "main")},
	{"creates a pull request", "POST", r + "/pulls", `{"title":"Fix","head":"fix-1","base":"main","draft":true}`, "github.pr.create", gh("head", "fix-1", "base", "main", "draft", true)},
	{"lists review comments of a repository", "GET", r + "/pulls/comments", "", "github.pr_comment.list", gh()},
	{"gets a review comment", "GET", r + "/pulls/comments/99", "", "github.pr_comment.get", gh("comment_id", 99.0)},
	{"edits a review comment", "PATCH", r + "/pulls/comments/99", `{"body":"x"}`, "github.pr_comment.update", gh("comment_id", 99.0)},
	{"deletes a review comment", "DELETE", r + "/pulls/comments/99", "", "github.pr_comment.delete", gh("comment_id", 99.0)},
	{"gets a pull request", "GET", r + "/pulls/42", "", "github.pr.get", gh("number", 42.0)},
	{"retargets a pull request", "PATCH", r + "/pulls/42", `{"base":"release"}`, "github.pr.update", gh("number", 42.0, "base", "release")},
	{"checks whether a pull request is merged", "GET", r + "/pulls/42/merge", "", "github.pr_merge.get", gh("number", 42.0)},
	{"merges a pull request", "PUT", r + "/pulls/42/merge", `{"merge_method":"squash","sha":"abc123"}`, "github.pr.merge", gh("number", 42.0, "merge_method", "squash", "sha", "abc123")},
	{"merges a pull request with no body", "PUT", r + "/pulls/42/merge", "", "github.pr.merge", gh("number", 42.0)},
	{"reads a leading-zero number as decimal", "PUT", r + "/pulls/007/merge", "", "github.pr.merge", gh("number", 7.0)},
	{"updates a pull request branch", "PUT", r + "/pulls/42/update-branch", `{"expected_head_sha":"def"}`, "github.pr.update_branch", gh("number", 42.0, "expected_head_sha", "def")},
	{"lists pull request files", "GET", r + "/pulls/42/files", "", "github.pr_file.list", gh("number", 42.0)},
	{"lists pull request commits", "GET", r + "/pulls/42/commits", "", "github.pr_commit.list", gh("number", 42.0)},
	{"lists reviews", "GET", r + "/pulls/42/reviews", "", "github.pr_review.list", gh("number", 42.0)},
	{"approves a pull request", "POST", r + "/pulls/42/reviews", `{"event":"APPROVE"}`, "github.pr_review.create", gh("number", 42.0, "event", "APPROVE")},
	{"dismisses a review", "PUT", r + "/pulls/42/reviews/5/dismissals", `{"message":"stale"}`, "github.pr_review.dismiss", gh("number", 42.0, "review_id", 5.0)},
	{"lists comments of a pull request", "GET", r + "/pulls/42/comments", "", "github.pr_comment.list", gh("number", 42.0)},
	{"comments on a pull request diff", "POST", r + "/pulls/42/comments", `{"body":"nit","commit_id":"c1","path":"a.go","line":3}`, "github.pr_comment.create", gh("number", 42.0, "commit_id", "c1")},
	{"requests reviewers", "POST", r + "/pulls/42/requested_reviewers", `{"reviewers":["a"]}`, "github.pr_reviewer.add", gh("number", 42.0)},
	{"removes requested reviewers", "DELETE", r + "/pulls/42/requested_reviewers", "", "github.pr_reviewer.remove", gh("number", 42.0)},

	// Issues.
	{"lists issues by label", "GET", r + "/issues?state=all&labels=bug", "", "github.issue.list", gh("state", "all", "labels", "bug")},
	{"creates an issue", "POST", r + "/issues", `{"title":"t","body":"b"}`, "github.issue.create", gh()},
	{"lists issue comments of a repository", "GET", r + "/issues/comments", "", "github.issue_comment.list", gh()},
	{"gets an issue comment", "GET", r + "/issues/comments/3", "", "github.issue_comment.get", gh("comment_id", 3.0)},
	{"edits an issue comment", "PATCH", r + "/issues/comments/3", `{"body":"x"}`, "github.issue_comment.update", gh("comment_id", 3.0)},
	{"deletes an issue comment", "DELETE", r + "/issues/comments/3", "", "github.issue_comment.delete", gh("comment_id", 3.0)},
	{"gets an issue", "GET", r + "/issues/8", "", "github.issue.get", gh("number", 8.0)},
	{"closes an issue", "PATCH", r + "/issues/8", `{"state":"closed","state_reason":"completed"}`, "github.issue.update", gh("number", 8.0, "state", "closed", "state_reason", "completed")},
	{"locks an issue", "PUT", r + "/issues/8/lock", `{"lock_reason":"spam"}`, "github.issue.lock", gh("number", 8.0, "lock_reason", "spam")},
	{"unlocks an issue", "DELETE", r + "/issues/8/lock", "", "github.issue.unlock", gh("number", 8.0)},
	{"lists comments of an issue", "GET", r + "/issues/8/comments", "", "github.issue_comment.list", gh("number", 8.0)},
	{"comments on an issue", "POST", r + "/issues/8/comments", `{"body":"hi"}`, "github.issue_comment.create", gh("number", 8.0)},
	{"labels an issue", "POST", r + "/issues/8/labels", `{"labels":["bug"]}`, "github.issue_label.add", gh("number", 8.0)},
	{"removes a label with a space", "DELETE", r + "/issues/8/labels/good%20first%20issue", "", "github.issue_label.remove", gh("number", 8.0, "name", "good first issue")},
	{"assigns an issue", "POST", r + "/issues/8/assignees", `{"assignees":["a"]}`, "github.issue_assignee.add", gh("number", 8.0)},
	{"unassigns an issue", "DELETE", r + "/issues/8/assignees", "", "github.issue_assignee.remove", gh("number", 8.0)},
	{"lists labels", "GET", r + "/labels", "", "github.label.list", gh()},
	{"creates a label", "POST", r + "/labels", `{"name":"p1","color":"f00"}`, "github.label.create", gh("name", "p1")},
	{"deletes a label", "DELETE", r + "/labels/p1", "", "github.label.delete", gh("name", "p1")},

	// Contents, commits, refs.
	{"gets the readme at a ref", "GET", r + "/readme?ref=dev", "", "github.readme.get", gh("ref", "dev")},
	{"lists the root directory", "GET", r + "/contents", "", "github.content.get", gh()},
	{"gets a nested file", "GET", r + "/contents/src/main.go?ref=main", "", "github.content.get", gh("file_path", "src/main.go", "ref", "main")},
	{"keeps an encoded slash inside one path segment", "GET", r + "/contents/a%2Fb.txt", "", "github.content.get", gh("file_path", "a/b.txt")},
	{"writes a file on a branch", "PUT", r + "/contents/.github/workflows/ci.yml", `{"message":"m","content":"eA==","branch":"main","sha":"s1"}`, "github.content.update", gh("file_path", ".github/workflows/ci.yml", "branch", "main", "sha", "s1")},
	{"deletes a file", "DELETE", r + "/contents/README.md", `{"message":"m","sha":"s2"}`, "github.content.delete", gh("file_path", "README.md", "sha", "s2")},
	{"lists commits on a branch", "GET", r + "/commits?sha=dev", "", "github.commit.list", gh("sha", "dev")},
	{"gets a commit", "GET", r + "/commits/abc", "", "github.commit.get", gh("ref", "abc")},
	{"compares two refs", "GET", r + "/compare/main...dev", "", "github.commit.compare", gh("basehead", "main...dev")},
	{"sets a commit status", "POST", r + "/statuses/abc", `{"state":"success","context":"ci"}`, "github.commit_status.create", gh("sha", "abc", "state", "success", "context", "ci")},
	{"gets a branch ref", "GET", r + "/git/ref/heads/feature/x", "", "github.git_ref.get", gh("ref", "heads/feature/x")},
	{"lists matching refs", "GET", r + "/git/matching-refs/tags/v1", "", "github.git_ref.list", gh("ref", "tags/v1")},
	{"creates a ref", "POST", r + "/git/refs", `{"ref":"refs/heads/x","sha":"abc"}`, "github.git_ref.create", gh("ref", "refs/heads/x", "sha", "abc")},
	{"force-updates a ref", "PATCH", r + "/git/refs/heads/main", `{"sha":"abc","force":true}`, "github.git_ref.update", gh("ref", "heads/main", "sha", "abc", "force", true)},
	{"deletes a branch ref", "DELETE", r + "/git/refs/heads/old", "", "github.git_ref.delete", gh("ref", "heads/old")},

	// Branches.
	{"lists protected branches", "GET", r + "/branches?protected=true", "", "github.branch.list", gh("protected", true)},
	{"gets branch protection", "GET", r + "/branches/main/protection", "", "github.branch_protection.get", gh("branch", "main")},
	{"changes branch protection", "PUT", r + "/branches/main/protection", `{"enforce_admins":true}`, "github.branch_protection.update", gh("branch", "main")},
	{"removes branch protection", "DELETE", r + "/branches/main/protection", "", "github.branch_protection.delete", gh("branch", "main")},
	{"renames a branch", "POST", r + "/branches/old/rename", `{"new_name":"new"}`, "github.branch.rename", gh("branch", "old", "new_name", "new")},
	{"gets a branch with a slash", "GET", r + "/branches/feature/x", "", "github.branch.get", gh("branch", "feature/x")},
	{"merges a branch", "POST", r + "/merges", `{"base":"main","head":"dev"}`, "github.branch.merge", gh("base", "main", "head", "dev")},
	{"syncs a fork", "POST", r + "/merge-upstream", `{"branch":"main"}`, "github.branch.sync", gh("branch", "main")},

	// Releases.
	{"lists releases", "GET", r + "/releases", "", "github.release.list", gh()},
	{"creates a release", "POST", r + "/releases", `{"tag_name":"v1.0.0","target_commitish":"main","draft":false,"prerelease":false}`, "github.release.create", gh("tag_name", "v1.0.0", "target_commitish", "main", "draft", false, "prerelease", false)},
	{"gets the latest release", "GET", r + "/releases/latest", "", "github.release.get", gh()},
	{"gets a release by tag", "GET", r + "/releases/tags/v1.0.0", "", "github.release.get", gh("tag", "v1.0.0")},
	{"deletes a release asset", "DELETE", r + "/releases/assets/77", "", "github.release_asset.delete", gh("asset_id", 77.0)},
	{"gets a release by id", "GET", r + "/releases/5", "", "github.release.get", gh("release_id", 5.0)},
	{"publishes a draft release", "PATCH", r + "/releases/5", `{"draft":false}`, "github.release.update", gh("release_id", 5.0, "draft", false)},
	{"deletes a release", "DELETE", r + "/releases/5", "", "github.release.delete", gh("release_id", 5.0)},
	{"lists release assets", "GET", r + "/releases/5/assets", "", "github.release_asset.list", gh("release_id", 5.0)},
	{"uploads a release asset", "POST", r + "/releases/5/assets?name=app.tar.gz", "", "github.release_asset.upload", gh("release_id", 5.0, "name", "app.tar.gz")},

	// Actions.
	{"lists workflows", "GET", r + "/actions/workflows", "", "github.workflow.list", gh()},
	{"gets a workflow by file name", "GET", r + "/actions/workflows/ci.yml", "", "github.workflow.get", gh("workflow_id", "ci.yml")},
	{"dispatches a workflow on a ref", "POST", r + "/actions/workflows/deploy.yml/dispatches", `{"ref":"main","inputs":{"env":"prod"}}`, "github.workflow.dispatch", gh("workflow_id", "deploy.yml", "ref", "main")},
	{"enables a workflow", "PUT", r + "/actions/workflows/42/enable", "", "github.workflow.enable", gh("workflow_id", "42")},
	{"disables a workflow", "PUT", r + "/actions/workflows/42/disable", "", "github.workflow.disable", gh("workflow_id", "42")},
	{"lists runs of a workflow", "GET", r + "/actions/workflows/ci.yml/runs?branch=main", "", "github.workflow_run.list", gh("workflow_id", "ci.yml", "branch", "main")},
	{"lists failed runs", "GET", r + "/actions/runs?status=failure", "", "github.workflow_run.list", gh("status", "failure")},
	{"gets a run", "GET", r + "/actions/runs/1001", "", "github.workflow_run.get", gh("run_id", 1001.0)},
	{"deletes a run", "DELETE", r + "/actions/runs/1001", "", "github.workflow_run.delete", gh("run_id", 1001.0)},
	{"re-runs a run", "POST", r + "/actions/runs/1001/rerun", "", "github.workflow_run.rerun", gh("run_id", 1001.0)},
	{"cancels a run", "POST", r + "/actions/runs/1001/cancel", "", "github.workflow_run.cancel", gh("run_id", 1001.0)},
	{"downloads run logs", "GET", r + "/actions/runs/1001/logs", "", "github.workflow_run_log.get", gh("run_id", 1001.0)},
	{"lists actions secrets", "GET", r + "/actions/secrets", "", "github.actions_secret.list", gh()},
	{"sets an actions secret without exposing its value", "PUT", r + "/actions/secrets/NPM_TOKEN", `{"encrypted_value":"c2VjcmV0","key_id":"1"}`, "github.actions_secret.update", gh("secret_name", "NPM_TOKEN")},
	{"deletes an actions secret", "DELETE", r + "/actions/secrets/NPM_TOKEN", "", "github.actions_secret.delete", gh("secret_name", "NPM_TOKEN")},

	// Users, orgs, search, gists.
	{"gets the authenticated user", "GET", "/user", "", "github.user.get", nil},
	{"gets a user", "GET", "/users/Octocat", "", "github.user.get", P{"username": "octocat"}},
	{"gets an org", "GET", "/orgs/acme", "", "github.org.get", P{"org": "acme"}},
	{"lists org members", "GET", "/orgs/acme/members", "", "github.org_member.list", P{"org": "acme"}},
	{"searches repositories without copying the query", "GET", "/search/repositories?q=secret+stuff", "", "github.repo.search", nil},
	{"searches issues", "GET", "/search/issues?q=is:open", "", "github.issue.search", nil},
	{"searches code", "GET", "/search/code?q=x", "", "github.code.search", nil},
	{"reads the rate limit", "GET", "/rate_limit", "", "github.rate_limit.get", nil},
	{"lists gists", "GET", "/gists", "", "github.gist.list", nil},
	{"creates a public gist", "POST", "/gists", `{"public":true,"files":{}}`, "github.gist.create", P{"public": true}},

	// Unknown.
	{"names an unlisted endpoint unknown with method and path", "GET", "/repos/octo/hello/traffic/views?per=day", "", "github.unknown", P{"method": "GET", "path": "/repos/octo/hello/traffic/views"}},
	{"treats a non-numeric pull number as unknown", "PUT", r + "/pulls/abc/merge", "", "github.unknown", P{"method": "PUT", "path": r + "/pulls/abc/merge"}},
	{"treats a trailing slash as unknown", "GET", r + "/", "", "github.unknown", P{"method": "GET", "path": r + "/"}},
	{"treats an upper-case literal as unknown", "GET", "/REPOS/octo/hello", "", "github.unknown", P{"method": "GET", "path": "/REPOS/octo/hello"}},
	{"treats an unlisted method as unknown", "HEAD", r, "", "github.unknown", P{"method": "HEAD", "path": r}},
}

func init() { goldenTables[TypeGitHub] = githubGolden }

func TestGitHubGolden(t *testing.T) {
	runGolden(t, Spec{Name: "gh", Type: TypeGitHub}, "application/json", githubGolden)
}
