/** The rail set the start-up tests serve: two canned answers and a forward, refusing anything else. */
export const SUPPORT_RAIL = `name: support
match: { threshold: 0.6 }
on_no_match: { action: refuse, message: Only support questions here. }
intents:
  - id: greeting
    action: respond
    response: Hello from support!
    examples: [hello, hi there, good morning]
  - id: password_reset
    action: respond
    response: Use the reset link on the sign-in page.
    examples: [how do I reset my password, I forgot my password, I can't log in with my password]
  - id: human_agent
    action: forward
    prompt: [{ role: system, content: Tell the customer how to reach a human agent. }]
    examples: [I want to talk to a human agent, can I speak to a real person, put me through to an agent]
`;
