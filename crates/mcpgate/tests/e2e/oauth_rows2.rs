//! Security catalogue rows OA13, OA16, OA20, OA28, TR07 and SL04, end to end: the real binary
//! in OAuth mode and the GitLab stand-in, all on loopback (OA20 also on a local Redis).

use crate::oauth::{Flow, call, oauth_gate};

/// RFC 7009 revocation of `token` at `flow`'s gate, naming `client_id` in the form.
async fn revoke_as(flow: &Flow<'_>, client_id: &str, token: &str) -> u16 {
    flow.http
        .post(flow.gate.url("/oauth/revoke"))
        .form(&[("token", token), ("client_id", client_id)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// OA28 (foreign client): client B revoking client A's access or refresh token gets a 200
/// and changes nothing — A's access token still works and A's refresh token still rotates;
/// A revoking its own token, the same way, does take effect. (The cross-replica ≤1 s bound
/// is `replicas.rs::mr05_revoke_on_a_is_refused_on_b_within_1s`.)
#[tokio::test]
async fn oa28_another_clients_revocation_has_no_effect() {
    let (_gl, _dir, gate) = oauth_gate().await;
    let a = Flow::register(&gate).await;
    let b = Flow::register(&gate).await;
    assert_ne!(a.client_id, b.client_id);
    let t = a.login().await;

    assert_eq!(revoke_as(&b, &b.client_id, &t.access).await, 200);
    assert_eq!(
        call(&gate, &t.access).await.status,
        200,
        "B revoked A's access token"
    );
    assert_eq!(revoke_as(&b, &b.client_id, &t.refresh).await, 200);
    assert_eq!(
        call(&gate, &t.access).await.status,
        200,
        "B revoked A's sign-in"
    );
    let (status, body) = a.refresh(&t.refresh).await;
    assert_eq!(status, 200, "B revoked A's refresh token: {body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(call(&gate, &access).await.status, 200);

    assert_eq!(revoke_as(&a, &a.client_id, &access).await, 200);
    assert_eq!(call(&gate, &access).await.status, 401, "A's own revocation");
}
