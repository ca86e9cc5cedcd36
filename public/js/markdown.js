// Renders assistant markdown safely (marked → DOMPurify) into an element whose textContent stays
// as close as possible to the message text: copy buttons carry no text nodes (their label is CSS
// generated content + aria-label) and whitespace-only nodes at block edges are dropped.
import { Marked } from '/vendor/marked.esm.js';
import DOMPurify from '/vendor/purify.es.mjs';

const markdown = new Marked({ gfm: true, breaks: false, async: false });

const BLOCK_CONTAINERS = new Set(['DIV', 'UL', 'OL', 'LI', 'BLOCKQUOTE', 'TABLE', 'THEAD', 'TBODY', 'TR']);

/**
 * Replaces the contents of `target` with the rendered markdown of `text`.
 * @param {HTMLElement} target
 * @param {string} text
 */
export function renderMarkdown(target, text) {
  const html = markdown.parse(text);
  const fragment = DOMPurify.sanitize(html, { RETURN_DOM_FRAGMENT: true });
  trimBlockEdges(fragment);
  for (const link of fragment.querySelectorAll('a[href]')) {
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
  }
  for (const pre of fragment.querySelectorAll('pre')) wrapCodeBlock(pre);
  target.replaceChildren(fragment);
}

/** @param {Node} root */
function trimBlockEdges(root) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const edgeWhitespace = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.data.trim() !== '') continue;
    const parent = node.parentNode;
    const isTopLevel = parent === root;
    if (!isTopLevel && !BLOCK_CONTAINERS.has(parent.nodeName)) continue;
    if (!node.previousSibling || !node.nextSibling) edgeWhitespace.push(node);
  }
  for (const node of edgeWhitespace) node.remove();
}

/** @param {HTMLPreElement} pre */
function wrapCodeBlock(pre) {
  const wrapper = document.createElement('div');
  wrapper.className = 'code-block';
  const copy = document.createElement('button');
  copy.type = 'button';
  copy.className = 'copy-code';
  copy.setAttribute('aria-label', 'Copy code');
  pre.replaceWith(wrapper);
  wrapper.append(copy, pre);
}

/** Handles clicks on any copy button inside `container` (one listener for the whole log). */
export function enableCopyButtons(container) {
  container.addEventListener('click', async (event) => {
    const button = event.target instanceof Element ? event.target.closest('button.copy-code') : null;
    if (!button) return;
    const code = button.parentElement?.querySelector('pre')?.textContent ?? '';
    const copied = await copyText(code);
    button.dataset.copied = copied ? 'yes' : 'no';
    button.setAttribute('aria-label', copied ? 'Copied' : 'Copy failed');
    setTimeout(() => {
      delete button.dataset.copied;
      button.setAttribute('aria-label', 'Copy code');
    }, 1500);
  });
}

/** @param {string} text */
async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (no permission / not focused): fall back to a selection copy.
    const scratch = document.createElement('textarea');
    scratch.value = text;
    scratch.setAttribute('readonly', '');
    scratch.style.position = 'fixed';
    scratch.style.opacity = '0';
    document.body.append(scratch);
    scratch.select();
    const ok = document.execCommand('copy');
    scratch.remove();
    return ok;
  }
}
