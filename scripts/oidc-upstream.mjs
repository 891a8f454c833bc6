#!/usr/bin/env node
// oidc-upstream.mjs — a real OAuth 2 server standing in for GitLab in tests: the certified
// `oidc-provider` package with one confidential client (GitLab-style application) and a
// scripted login (no HTML: the interaction is finished at once as the "next user").
//
//   PORT=… REDIRECT_URI=http://127.0.0.1:<mcpgate>/oauth/callback node oidc-upstream.mjs
//
// Env: CLIENT_ID, CLIENT_SECRET (defaults below), ACCESS_TTL (seconds, default 7200).
// Endpoints besides the provider's own (/auth, /token, /token/introspection, /me, …):
//   POST /test/next-user?name=bob   who signs in next
//   GET  /test/whoami               introspects the request's bearer token: {"active":…, "sub":…}
// Prints "listening <issuer>" when ready.
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 0);
const issuer = `http://127.0.0.1:${port}`;
const clientId = process.env.CLIENT_ID || 'gitlab-app-id';
const clientSecret = process.env.CLIENT_SECRET || 'gitlab-app-secret-canary';
let nextUser = 'alice';

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  scopes: ['openid', 'offline_access', 'api', 'read_user'],
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
  pkce: { required: () => true },
  issueRefreshToken: () => true,
  ttl: { AccessToken: Number(process.env.ACCESS_TTL || 7200), Grant: 86400, Session: 86400, Interaction: 600, RefreshToken: 86400 },
  findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});
provider.proxy = false;

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (url.pathname.startsWith('/interaction/')) {
      // Scripted login and consent: whoever is "next" approves everything asked.
      const details = await provider.interactionDetails(req, res);
      const grant = new provider.Grant({ accountId: nextUser, clientId: details.params.client_id });
      const scope = String(details.params.scope || '');
      if (scope) grant.addOIDCScope(scope);
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId: nextUser }, consent: { grantId } }, { mergeWithLastSubmission: false });
      return;
    }
    if (url.pathname === '/test/next-user' && req.method === 'POST') {
      nextUser = url.searchParams.get('name') || nextUser;
      res.writeHead(204).end();
      return;
    }
    if (url.pathname === '/test/whoami') {
      const token = String(req.headers.authorization || '').replace(/^Bearer\s+/i, '');
      const at = token ? await provider.AccessToken.find(token) : undefined;
      const body = at ? { active: true, sub: at.accountId, scope: at.scope } : { active: false };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      return;
    }
    callback(req, res);
  } catch (e) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(String(e?.stack || e));
  }
});
server.listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));
