/**
 * `POST /v1/chat/completions`: validate, decide on the last user message, then act on the decision:
 * forward the intent's vetted prompt, pass the request through, or answer (respond / refuse) without
 * calling the upstream. Every decided response carries the decision in `x-railgate-*` headers.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { DecisionSink } from '../../decisions/types.js';
import type { Decision } from '../../matching/decision.js';
import { renderPrompt } from '../../rails/prompt.js';
import type { PromptMessage, RailSet } from '../../rails/types.js';
import type { Settings } from '../../settings.js';
import type { Guard, GuardResult } from '../../matching/guard.js';
import { checkKeysUnambiguous } from '../json-keys.js';
import { createRequestParsers, type ChatRequest, type EarlierMessage } from '../chat-request.js';
import { decisionHeaders, decisionView } from '../decision-view.js';
import { relayChat } from '../relay.js';
import { chooseRailSet, pickRailSetName, railSetAccess } from '../rail-set.js';
import { SSE_HEADERS, eventStream } from '../sse.js';
import { synthesizeChunks, synthesizeCompletion, type SynthesisInput } from '../synthesize.js';
import { clientLeaving, startTrace } from '../trace.js';

export interface ChatRouteOptions {
  readonly settings: Settings;
  readonly decisions: DecisionSink;
  readonly clock: () => number;
}

/**
 * Decides a request's last user message, with the earlier ones that may refuse a passthrough. Also
 * says what the decision is about: the text (for the log) and, when an earlier message refused it,
 * that message's index in the request's `messages` (for the client); null when the last one decided.
 */
export async function decideConversation(
  guard: Guard,
  railSet: string,
  last: string,
  earlier: readonly EarlierMessage[],
  signal?: AbortSignal,
): Promise<{ result: GuardResult; message: string; earlierIndex: number | null }> {
  const result = await guard.decide(
    last,
    railSet,
    earlier.map((m) => m.text),
    signal,
  );
  const refusing = result.earlierIndex === undefined ? undefined : earlier[result.earlierIndex];
  return { result, message: refusing?.text ?? last, earlierIndex: refusing?.index ?? null };
}

/** What railgate itself answers for respond / refuse decisions. */
export function cannedAnswer(
  decision: Decision,
  set: RailSet,
): { content: string; finishReason: 'stop' | 'content_filter' } {
  const intent = decision.intent === null ? undefined : set.intents.find((i) => i.id === decision.intent);
  const noMatchText = set.onNoMatch.message ?? set.refusal;
  if (decision.action === 'respond') {
    return { content: intent?.response ?? noMatchText, finishReason: 'stop' };
  }
  return { content: intent ? (intent.message ?? set.refusal) : noMatchText, finishReason: 'content_filter' };
}

/**
 * What a forward keeps of the client's request: sampling and accounting parameters, and the output
 * format. Anything else (tools, functions, `prediction`, audio, parameters OpenAI adds later) is left
 * out, so the model reads only the vetted prompt and, for a format, the app's schema. Tools in
 * particular could never work: the client's next request (with a tool's result) is decided on the
 * same user message and forwarded as the same vetted prompt, so an agent would call the tool forever.
 */
const FORWARDED_PARAMETERS: ReadonlySet<string> = new Set([
  'model',
  'stream',
  'stream_options',
  'n',
  'temperature',
  'top_p',
  'max_tokens',
  'max_completion_tokens',
  'stop',
  'seed',
  'presence_penalty',
  'frequency_penalty',
  'logit_bias',
  'logprobs',
  'top_logprobs',
  'response_format',
  'reasoning_effort',
  'verbosity',
  'service_tier',
  'user',
  'safety_identifier',
  'prompt_cache_key',
  'metadata',
  'store',
]);

/** The body sent upstream for a forward decision: the vetted prompt instead of the client's messages. */
function forwardBody(chat: ChatRequest, decision: Decision, set: RailSet): Record<string, unknown> {
  const intent = set.intents.find((i) => i.id === decision.intent);
  if (!intent)
    throw new Error(`forward decision names intent "${decision.intent}", which rail set "${set.name}" lacks`);
  const kept = Object.entries(chat.body).filter(([key]) => FORWARDED_PARAMETERS.has(key));
  const prompt = renderPrompt(intent, chat.userText);
  return {
    ...Object.fromEntries(kept),
    messages: asksForJson(chat.body) && !prompt.some((m) => /json/i.test(m.content)) ? askingForJson(prompt) : prompt,
    ...(intent.model ? { model: intent.model } : {}),
  };
}

/**
 * OpenAI refuses JSON mode (400) unless a message says "JSON", and the client's message that did is
 * not what a forward sends: a vetted prompt that does not say it gets the request added to its first
 * system (or developer) message, or a system message of its own, first: some chat templates take one
 * system message only, and only first.
 */
const JSON_ASKED = 'Answer with a JSON object.';

function askingForJson(prompt: readonly PromptMessage[]): PromptMessage[] {
  const system = prompt.findIndex((m) => m.role === 'system' || m.role === 'developer');
  if (system < 0) return [{ role: 'system', content: JSON_ASKED }, ...prompt];
  return prompt.map((m, i) => (i === system ? { ...m, content: `${m.content}\n\n${JSON_ASKED}` } : m));
}

function asksForJson(body: Record<string, unknown>): boolean {
  const format = body.response_format;
  return typeof format === 'object' && format !== null && (format as { type?: unknown }).type === 'json_object';
}

export const chatRoutes = fp(
  async (app: FastifyInstance, options: ChatRouteOptions) => {
    const parsers = createRequestParsers(options.settings.limits);
    const access = railSetAccess(options.settings.clientRailSets);

    app.post('/v1/chat/completions', async (request: FastifyRequest, reply: FastifyReply) => {
      const time = options.clock();
      const chat = parsers.chat(request.body);
      // Before deciding (and after the limits): a body another parser reads otherwise would let the
      // upstream see a message railgate did not decide on.
      checkKeysUnambiguous(request.body, request.rawBody);
      const guard = app.guardGate.require();
      const name = pickRailSetName(request, guard);
      chooseRailSet(guard, name, 'x-railgate-rails', access);
      // One signal for the whole request: the model queue and the upstream call both stop on it.
      const signal = clientLeaving(request, reply);
      const { result, message, earlierIndex } = await decideConversation(
        guard,
        name,
        chat.userText,
        chat.earlier,
        signal,
      );
      const { decision, set } = result;
      const trace = startTrace(
        options.decisions,
        { endpoint: 'chat', stream: chat.stream, message, result, time, requestId: request.id },
        request,
        reply,
      );
      const details = options.settings.decisionDetails;
      const view = decisionView(decision, request.id, earlierIndex, details);
      reply.headers(decisionHeaders(decision, details));

      if (decision.action === 'respond' || decision.action === 'refuse') {
        const answer = cannedAnswer(decision, set);
        const synthesis: SynthesisInput = {
          ...answer,
          model: chat.model ?? 'railgate',
          choices: chat.choices,
          // A parse() client cannot read canned text as its JSON: the answer goes where the SDK looks for one.
          asRefusal: chat.structured,
          now: options.clock(),
          railgate: view,
        };
        if (!chat.stream) return reply.send(synthesizeCompletion(synthesis));
        return reply
          .headers(SSE_HEADERS)
          .send(eventStream(synthesizeChunks({ ...synthesis, includeUsage: chat.includeUsage })));
      }

      return relayChat(request, reply, {
        upstreams: app.upstreams,
        upstream: set.upstream,
        // A passthrough sends the client's own bytes; a forward, the vetted request.
        body:
          decision.action === 'forward'
            ? JSON.stringify(forwardBody(chat, decision, set))
            : (request.rawBody ?? JSON.stringify(chat.body)),
        stream: chat.stream,
        includeUsage: chat.includeUsage,
        view,
        trace,
        maxEventBytes: options.settings.limits.streamEventBytes,
        signal,
      });
    });
  },
  {
    name: 'railgate-chat-routes',
    fastify: '5.x',
    dependencies: ['railgate-guard-gate', 'railgate-upstreams', 'railgate-errors'],
  },
);
