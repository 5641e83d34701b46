// The stand-in's issue comments (GitHub's 65,536-character limit), reactions and labels.

import { z } from 'zod';
import { DOC, limited, notFound, now, page, paginate, repoRoute, type Route } from './route.ts';

const REACTIONS = ['+1', '-1', 'laugh', 'confused', 'heart', 'hooray', 'rocket', 'eyes'] as const;
/** GitHub's limit on a comment, issue or pull request body. */
export const BODY_LIMIT = 65536;

export const ISSUE_ROUTES: Route[] = [
  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/issues/{issue_number}/comments',
    resource: 'IssueComment',
    docs: DOC.listComments,
    query: z.object({ since: z.string().optional(), ...page }),
    handle: ({ state, repo, params, query }) => {
      const issue = state.issue(repo, Number(params.issue_number));
      if (!issue) return notFound(DOC.listComments);
      const comments = [...state.comments.values()]
        .filter(
          (c) =>
            c.repo === repo.fullName &&
            c.issueNumber === issue.number &&
            (!query.since || c.updatedAt >= query.since),
        )
        .sort((a, b) => a.id - b.id)
        .map((c) => state.commentJson(c));
      return paginate(
        state,
        `/repos/${repo.fullName}/issues/${issue.number}/comments`,
        comments,
        query,
      );
    },
  }),

  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/issues/comments/{comment_id}',
    resource: 'IssueComment',
    docs: DOC.getComment,
    handle: ({ state, repo, params }) => {
      const comment = state.comments.get(Number(params.comment_id));
      if (!comment || comment.repo !== repo.fullName) return notFound(DOC.getComment);
      return { status: 200, body: state.commentJson(comment) };
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/issues/{issue_number}/comments',
    resource: 'IssueComment',
    docs: DOC.createComment,
    body: z.object({ body: limited(BODY_LIMIT) }),
    handle: ({ state, services, repo, params, body, user }) => {
      const issue = state.issue(repo, Number(params.issue_number));
      if (!issue) return notFound(DOC.createComment);
      const at = now();
      const comment = {
        id: state.nextId(),
        repo: repo.fullName,
        issueNumber: issue.number,
        body: body.body,
        user,
        createdAt: at,
        updatedAt: at,
        reactions: [],
      };
      state.comments.set(comment.id, comment);
      services.emit('comment', comment);
      return { status: 201, body: state.commentJson(comment) };
    },
  }),

  repoRoute({
    method: 'PATCH',
    template: '/repos/{owner}/{repo}/issues/comments/{comment_id}',
    resource: 'IssueComment',
    docs: DOC.updateComment,
    body: z.object({ body: limited(BODY_LIMIT) }),
    handle: ({ state, services, repo, params, body }) => {
      const comment = state.comments.get(Number(params.comment_id));
      if (!comment || comment.repo !== repo.fullName) return notFound(DOC.updateComment);
      comment.body = body.body;
      comment.updatedAt = now();
      services.emit('comment', comment);
      return { status: 200, body: state.commentJson(comment) };
    },
  }),

  repoRoute({
    method: 'DELETE',
    template: '/repos/{owner}/{repo}/issues/comments/{comment_id}',
    resource: 'IssueComment',
    docs: DOC.deleteComment,
    handle: ({ state, repo, params }) => {
      const comment = state.comments.get(Number(params.comment_id));
      if (!comment || comment.repo !== repo.fullName) return notFound(DOC.deleteComment);
      state.comments.delete(comment.id);
      return { status: 204 };
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions',
    resource: 'Reaction',
    docs: DOC.reaction,
    body: z.object({ content: z.enum(REACTIONS) }),
    handle: ({ state, repo, params, body, user }) => {
      const comment = state.comments.get(Number(params.comment_id));
      if (!comment || comment.repo !== repo.fullName) return notFound(DOC.reaction);
      const existing = comment.reactions.find(
        (r) => r.content === body.content && r.user.login === user.login,
      );
      if (existing) return { status: 200, body: state.reactionJson(existing) };
      const reaction = { id: state.nextId(), content: body.content, user, createdAt: now() };
      comment.reactions.push(reaction);
      return { status: 201, body: state.reactionJson(reaction) };
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/issues/{issue_number}/labels',
    resource: 'Label',
    docs: DOC.labels,
    body: z.preprocess(
      (v) => (Array.isArray(v) ? { labels: v } : v),
      z.object({
        labels: z
          .array(
            z
              .union([z.string(), z.object({ name: z.string() })])
              .transform((l) => (typeof l === 'string' ? l : l.name))
              .pipe(z.string().min(1).max(50)),
          )
          .min(1),
      }),
    ),
    handle: ({ state, repo, params, body }) => {
      const issue = state.issue(repo, Number(params.issue_number));
      if (!issue) return notFound(DOC.labels);
      for (const name of body.labels) {
        if (!repo.labels.has(name.toLowerCase())) {
          repo.labels.set(name.toLowerCase(), {
            id: state.nextId(),
            name,
            color: 'ededed',
            description: null,
          });
        }
        if (!issue.labels.some((l) => l.toLowerCase() === name.toLowerCase())) {
          issue.labels.push(name);
        }
      }
      issue.updatedAt = now();
      return {
        status: 200,
        body: issue.labels.flatMap((name) => {
          const label = repo.labels.get(name.toLowerCase());
          return label ? [state.labelJson(repo, label)] : [];
        }),
      };
    },
  }),
];
