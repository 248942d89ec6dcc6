package gateway

import (
	"github.com/bridle-gw/bridle/internal/api"
	"github.com/bridle-gw/bridle/internal/statedir"
)

// apiTokens are the API's credentials: every agent token (agents see only
// their own records), every configured operator, and the local owner token
// from the state dir (for the CLI on this machine).
func (p *Plan) apiTokens(dir statedir.Dir) (*api.Tokens, error) {
	var creds []api.Credential
	for _, a := range p.Config.Agents {
		for _, sum := range a.TokenSHA256s {
			creds = append(creds, api.Credential{SHA256: sum, Principal: api.Principal{Name: a.Name, Agent: true}})
		}
	}
	for _, o := range p.Config.Operators {
		role, _ := api.ParseRole(o.Role) // validated at load
		creds = append(creds, api.Credential{SHA256: o.TokenSHA256, Principal: api.Principal{Name: o.Name, Role: role}})
	}
	_, sum, err := dir.OperatorToken()
	if err != nil {
		return nil, err
	}
	creds = append(creds, api.Credential{SHA256: sum, Principal: api.Principal{Name: "local", Role: api.Owner}})
	return api.NewTokens(creds), nil
}
