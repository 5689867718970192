// Transitional: callers move to isError(err, Class) from src/core.
export * from '../core/errors/criu';
import { isError } from '../core/ferry-error';
import { CriuFailedError, CriuUnavailableError, ImagesDirNotEmptyError, ImagesInvalidError, KernelFeatureMissingError, NoSuchProcessError, NotPermittedError, ParentImagesInvalidError, PidInUseError, ProcessChangedError, RefusedTargetError } from '../core/errors/criu';
export const isNoSuchProcessError = (e: unknown): e is NoSuchProcessError => isError(e, NoSuchProcessError);
export const isNotPermittedError = (e: unknown): e is NotPermittedError => isError(e, NotPermittedError);
export const isKernelFeatureMissingError = (e: unknown): e is KernelFeatureMissingError => isError(e, KernelFeatureMissingError);
export const isParentImagesInvalidError = (e: unknown): e is ParentImagesInvalidError => isError(e, ParentImagesInvalidError);
export const isImagesDirNotEmptyError = (e: unknown): e is ImagesDirNotEmptyError => isError(e, ImagesDirNotEmptyError);
export const isImagesInvalidError = (e: unknown): e is ImagesInvalidError => isError(e, ImagesInvalidError);
export const isCriuUnavailableError = (e: unknown): e is CriuUnavailableError => isError(e, CriuUnavailableError);
export const isProcessChangedError = (e: unknown): e is ProcessChangedError => isError(e, ProcessChangedError);
export const isRefusedTargetError = (e: unknown): e is RefusedTargetError => isError(e, RefusedTargetError);
export const isPidInUseError = (e: unknown): e is PidInUseError => isError(e, PidInUseError);
export const isCriuFailedError = (e: unknown): e is CriuFailedError => isError(e, CriuFailedError);
import { errorKind } from '../core/errors';
import { CRIU_ERRORS } from '../core/errors/criu';
export type CriuErrorKind = string;
export const criuErrorKind = (e: unknown): string | null => {
  const k = errorKind(e);
  return k && ([...CRIU_ERRORS.map((c) => c.kind), 'policy-refused'] as string[]).includes(k) ? k : null;
};
export const PERMANENT_CRIU_ERROR_KINDS: ReadonlySet<string> = new Set([...CRIU_ERRORS.filter((c) => !c.retryable).map((c) => c.kind), 'policy-refused']);
export type AnyCriuError = InstanceType<(typeof CRIU_ERRORS)[number]>;
