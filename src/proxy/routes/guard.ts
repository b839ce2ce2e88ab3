/**
 * `POST /v1/guard`: decide only, never call the upstream. For apps that call their model themselves
 * and want railgate's verdict first. Logged like chat decisions, with endpoint `guard`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { renderPrompt } from '../../rails/prompt.js';
import { createRequestParsers } from '../chat-request.js';
import { decisionHeaders, decisionView } from '../decision-view.js';
import { chooseRailSet, pickRailSetName, railSetAccess } from '../rail-set.js';
import { clientLeaving, startTrace } from '../trace.js';
import { cannedAnswer, decideConversation, type ChatRouteOptions } from './chat.js';

export const guardRoutes = fp(
  async (app: FastifyInstance, options: ChatRouteOptions) => {
    const parsers = createRequestParsers(options.settings.limits);
    const access = railSetAccess(options.settings.clientRailSets);

    app.post('/v1/guard', async (request: FastifyRequest, reply: FastifyReply) => {
      const time = options.clock();
      const input = parsers.guard(request.body);
      const guard = app.guardGate.require();
      const name = pickRailSetName(request, guard, input.railSet);
      chooseRailSet(guard, name, input.railSet ? 'rails' : 'x-railgate-rails', access);
      const { result, message, earlierIndex } = await decideConversation(
        guard,
        name,
        input.text,
        input.earlier,
        clientLeaving(request, reply),
      );
      const { decision } = result;
      const set = chooseRailSet(guard, decision.railSet, 'rails', access);
      startTrace(
        options.decisions,
        { endpoint: 'guard', stream: false, message, result, time, requestId: request.id },
        request,
        reply,
      );
      const details = options.settings.decisionDetails;
      reply.headers(decisionHeaders(decision, details));

      // What the proxy would do with this message: answer with a canned text, or send a vetted prompt.
      const intent = set.intents.find((i) => i.id === decision.intent);
      const cannedText =
        decision.action === 'respond' || decision.action === 'refuse' ? cannedAnswer(decision, set).content : null;
      const forwarded = decision.action === 'forward' && intent ? intent : undefined;
      // The vetted prompt is rail text: a brief view leaves it (and its model) out, as it does the examples.
      const outcome = {
        message: cannedText,
        ...(details === 'full' && {
          prompt: forwarded ? renderPrompt(forwarded, input.text) : null,
          model: forwarded?.model ?? null,
        }),
      };
      return {
        object: 'railgate.decision',
        railgate: decisionView(decision, request.id, earlierIndex, details),
        ...outcome,
      };
    });
  },
  {
    name: 'railgate-guard-routes',
    fastify: '5.x',
    dependencies: ['railgate-guard-gate', 'railgate-errors'],
  },
);
