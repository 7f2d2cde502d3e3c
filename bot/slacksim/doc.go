// Package slacksim is an in-process simulated Slack workspace: a Web API and a
// Socket Mode endpoint on one loopback listener that the real slack-go client
// talks to, plus helpers that act as users (slash commands, clicks, modal
// submissions, reactions) and observe what the bot did.
//
// The simulator is faithful to the wire rather than to slack-go's types, so a
// bot that works against it works against Slack (reference/slack.md):
//
//   - apps.connections.open takes only the app-level token and returns a
//     ws:// URL; the upgrader accepts any Origin because slack-go always sends
//     Origin: https://api.slack.com, and ignores unknown query parameters such
//     as debug_reconnects (§1.1, §1.2).
//   - The server sends hello on connect and WebSocket PINGs every
//     PingInterval: slack-go tears the connection down when no server ping
//     arrives within its maxPingInterval (§0.3, §1.6).
//   - Envelopes are single text frames with the exact shapes of §2.3:
//     slash_commands carry is_enterprise_install "false" (an empty string
//     would make slack-go drop the envelope unacked), every block_actions
//     action carries a block_id (without one slack-go routes it as a legacy
//     attachment action), events_api envelopes carry retry_attempt and
//     retry_reason.
//   - Acks are recorded with their arrival time; an ack frame of 20480 bytes
//     or more closes the socket with code 1009 as Slack does (§1.4). Slash
//     command ack payloads become messages; view_submission ack payloads
//     drive response_action errors / update / push / clear.
//   - Disconnect sends {"type":"disconnect"} and closes the socket shortly
//     after; slack-go reconnects on every disconnect whatever the reason
//     (§0.7).
//   - The Web API accepts the three encodings slack-go uses (form with a
//     token field, JSON with a Bearer header, GET for chat.getPermalink,
//     §1.8), always answers HTTP 200 with application/json and a non-empty
//     error on ok:false (slack-go treats ok:false without error as success),
//     except failures injected with FailNext (429 with Retry-After becomes a
//     slack.RateLimitedError).
//   - trigger_ids are single use and expire after TriggerTTL (3 s on Slack);
//     views.push allows two pushes; views.update honours hash; Block Kit is
//     validated against the limits of §4 and rejected the way Slack rejects
//     it (invalid_blocks for chat.*, invalid_arguments for views.*).
package slacksim
