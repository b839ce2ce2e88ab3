/**
 * `railgate explain "<message>"`: how one message is decided, with the scores, thresholds and nearest
 * examples behind it, so a rail author can see why.
 */
import { writeLine } from '../io.js';
import { snakeCaseKeys } from '../snake-case.js';
import { CommandFailure, defineCommand, UsageError } from '../../authoring/cli.js';
import { withWorkbench } from '../../authoring/workbench.js';
import { lastMessageTooLong } from '../../proxy/chat-request.js';
import { explainScored, renderExplanation } from '../../authoring/explain.js';
import { decideScored, scoreText } from '../../authoring/scored.js';

const HELP = `usage: railgate explain "<message>" [--rails SET] [--rails-dir DIR] [--top N] [--json]

Decides one message exactly as the proxy would and shows why: the decision (action, intent or no match,
reason), the best intents with score, threshold, pass/fail and margin (score - threshold), and each
intent's nearest examples ([not_example] marks not_examples). A message over limits.messageChars is
not decided: the proxy answers it with an error, and explain says so (exit 1).

  --rails SET       rail set name (default: the default set)
  --rails-dir DIR   rails folder (default: the \`rails\` setting, RAILGATE_RAILS or ./rails)
  --top N           intents to show (default 5)
  --json            print the explanation as JSON
  -h, --help        show this help`;

export const run = defineCommand({
  name: 'explain',
  help: HELP,
  positionals: true,
  options: {
    rails: { type: 'string' },
    'rails-dir': { type: 'string' },
    top: { type: 'string' },
    json: { type: 'boolean' },
  },
  body: async ({ values, positionals }, io) => {
    const message = positionals.join(' ');
    if (message.trim() === '') throw new UsageError('give the message to explain, in quotes');
    const top = values.top === undefined ? 5 : Number(values.top);
    if (!Number.isInteger(top) || top < 1)
      throw new UsageError(`--top must be a positive integer, got "${values.top}"`);
    return withWorkbench(
      io,
      values['rails-dir'],
      async (workbench) => {
        // The set first: a mistyped --rails is the error to see, whatever the message's length.
        const set = workbench.pick(values.rails, '--rails-dir');
        const limit = workbench.settings.limits.messageChars;
        if (message.length > limit) {
          // Exit 1, a failure: the arguments are right (no usage error, no help), but there is no decision
          // to show, as the proxy decides nothing either; exit 0 would pass off an error as a decision.
          const error = lastMessageTooLong(message.length, limit, 'messages[0].content');
          throw new CommandFailure(
            `the message is ${message.length} characters, over limits.messageChars (${limit}): the proxy decides ` +
              `nothing and answers ${error.statusCode} ${error.code} ("${error.message}")`,
          );
        }
        const compiled = await workbench.compile(set);
        const scored = await scoreText(compiled, message);
        const explanation = explainScored(message, decideScored(compiled.set, scored), scored);
        if (values.json) writeLine(io.stdout, JSON.stringify(snakeCaseKeys(explanation), null, 2));
        else for (const line of renderExplanation(explanation, top)) writeLine(io.stdout, line);
        return 0;
      },
      { folder: '--rails-dir', set: '--rails' },
    );
  },
});
